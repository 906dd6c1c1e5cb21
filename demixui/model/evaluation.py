"""Scoring a model on MUSDB18-HQ-layout tracks, beside the floor and the ceiling of its model class.

For every track and stem, two figures in dB (from `dsp.metrics`): the challenge SDR over the whole track and
the median SDR over one-second frames. Three estimates are scored on the same tracks:
- model: the separator (`separate_array`, the streaming path the app plays);
- floor: the mixture used as every stem's estimate (what doing nothing scores);
- ceiling: the oracle ratio mask `|S_j| / sum_k |S_k|` applied with the mixture's phase at the model's STFT
  configuration: what this model class reaches with perfect knowledge of the sources (the standard oracle;
  not a strict bound on SDR, but rarely beaten by a trained ratio mask). The gap model -> ceiling is roughly
  what training could still gain, and floor -> ceiling the room there is at all.
The oracle runs the causal streaming STFT/ISTFT in blocks and is aligned like the model (latency removed), so
the three are compared sample for sample; streaming keeps memory to one block of spectra per signal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from demixui.data.musdb import STEMS, list_tracks, load_track, track_name
from demixui.model.offline import separate_array
from demixui.model.pipeline import run_aligned
from demixui.model.runtime import SeparatorModel
from dsp.metrics import framewise_sdr_median, sdr
from dsp.mixphase import apply_masks
from dsp.stft import StftConfig, StreamingIstft, StreamingStft

ESTIMATES = ("model", "floor", "ceiling")
METRICS = ("sdr", "sdr_median_1s")  # challenge SDR; median of SDR over 1-second frames
ORACLE_BLOCK_FRAMES = 128


SILENT_MEAN_SQUARE = 1e-8  # a reference below -80 dBFS RMS is silent: its SDR says nothing (museval skips it)


def score_stems(references: np.ndarray, estimates: np.ndarray) -> dict[str, dict[str, float]]:
    """`references`, `estimates` `(nb_stems, nb_samples, 2)` -> {stem: {"sdr": dB, "sdr_median_1s": dB}};
    NaN for a silent reference stem (an instrumental's vocals), which the means skip."""
    assert references.shape == estimates.shape, (references.shape, estimates.shape)
    scores = {}
    for j, stem in enumerate(STEMS):
        if np.mean(np.square(references[j], dtype=np.float64)) < SILENT_MEAN_SQUARE:
            scores[stem] = {metric: float("nan") for metric in METRICS}
            continue
        scores[stem] = {"sdr": float(sdr(references[j], estimates[j])),
                        "sdr_median_1s": float(framewise_sdr_median(references[j], estimates[j]))}
    return scores


def oracle_ratio_mask(mixture: np.ndarray, stems: np.ndarray, config: StftConfig,
                      block_frames: int = ORACLE_BLOCK_FRAMES) -> np.ndarray:
    """The oracle ratio mask with mix phase: `mixture (nb_samples, 2)`, `stems (nb_stems, nb_samples, 2)` ->
    estimates `(nb_stems, nb_samples, 2)` float32, aligned like `separate_array`.

    Where every stem is silent in a bin the masks are 1/nb_stems, so they sum to one everywhere.
    """
    nb_stems, nb_samples, nb_channels = stems.shape
    mix_stft = StreamingStft(config, nb_channels)
    stem_stft = StreamingStft(config, nb_stems * nb_channels)
    istft = StreamingIstft(config, nb_stems * nb_channels)

    def analyse(mix_chunk: np.ndarray, *stem_chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mix_frames = mix_stft.process(mix_chunk)  # (nb_frames, nb_channels, nb_bins)
        # Stem channels side by side: channel index = stem * nb_channels + channel.
        magnitudes = np.abs(stem_stft.process(np.concatenate(stem_chunks, axis=1)))
        magnitudes = magnitudes.reshape(magnitudes.shape[0], nb_stems, nb_channels, -1)
        total = magnitudes.sum(axis=1, keepdims=True)
        masks = np.divide(magnitudes, total, out=np.full_like(magnitudes, 1.0 / nb_stems), where=total > 0)
        return mix_frames, masks

    def synthesise(mix_frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
        nb_frames = mix_frames.shape[0]
        stem_frames = apply_masks(mix_frames, masks)  # (nb_frames, nb_stems, nb_channels, nb_bins)
        samples = istft.process(stem_frames.reshape(nb_frames, nb_stems * nb_channels, -1))
        return samples.reshape(nb_frames * config.hop, nb_stems, nb_channels)

    out = np.zeros((nb_samples, nb_stems, nb_channels), dtype=np.float32)
    run_aligned([analyse, synthesise], [mixture, *stems], out, config.latency_samples, config.hop,
                block_frames * config.hop)
    return np.ascontiguousarray(out.transpose(1, 0, 2))


def evaluate_track(model: SeparatorModel, track: Path) -> dict:
    """Scores of one `ROOT/<track>/` folder: {"name", "seconds", "model", "floor", "ceiling", ...}."""
    rate = model.info.sample_rate
    mixture, references = load_track(track, rate)
    result: dict = {"name": track_name(track), "seconds": mixture.shape[0] / rate}
    start = time.perf_counter()
    estimates = separate_array(model, mixture).transpose(1, 0, 2)
    result["separation_seconds"] = time.perf_counter() - start
    result["model"] = score_stems(references, estimates)
    del estimates
    result["floor"] = score_stems(references, np.broadcast_to(mixture, references.shape))
    result["ceiling"] = score_stems(references, oracle_ratio_mask(mixture, references, model.stft_config))
    return result


def mean_scores(tracks: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean over tracks: {estimate: {stem or "all": {metric: dB}}}; NaN figures (silent stems) are skipped."""
    means: dict = {}
    for estimate in ESTIMATES:
        means[estimate] = {}
        for stem in (*STEMS, "all"):
            stems = STEMS if stem == "all" else (stem,)
            means[estimate][stem] = {
                metric: _nanmean([t[estimate][s][metric] for t in tracks for s in stems])
                for metric in METRICS
            }
    return means


def evaluate(model: SeparatorModel, root: str | Path,
             on_track: Callable[[dict, int, int], None] | None = None) -> dict:
    """Score every track under `root`; returns the whole report (JSON-ready after `to_json_safe`)."""
    tracks = list_tracks(root)
    results = []
    for index, track in enumerate(tracks):
        results.append(evaluate_track(model, track))
        if on_track is not None:
            on_track(results[-1], index + 1, len(tracks))
    info = model.info
    return {
        "root": str(Path(root)),
        "model": {"path": str(info.path), "model_version": info.model_version,
                  "training_data": info.training_data, "n_fft": info.n_fft, "hop": info.hop,
                  "latency_samples": info.latency_samples, "weights": info.weights},
        "metrics": {"sdr": "challenge SDR over the whole track, dB",
                    "sdr_median_1s": "median of SDR over 1-second frames, dB"},
        "estimates": {"model": "the model (streaming separation, latency removed)",
                      "floor": "the mixture as every stem's estimate",
                      "ceiling": "oracle ratio mask |S_j| / sum_k |S_k|, mixture's phase, model STFT"},
        "tracks": results,
        "mean": mean_scores(results),
    }


def format_table(report: dict) -> str:
    """Mean scores as a text table: per stem and metric, model / floor / ceiling and the gap to ceiling."""
    mean = report["mean"]
    header = (f"{'':8}  {'challenge SDR (dB)':^34}  {'median 1-s SDR (dB)':^34}\n"
              f"{'stem':8}" + "  {:>7} {:>7} {:>8} {:>8}".format("model", "floor", "ceiling", "gap") * 2)
    lines = [header, "-" * len(header.splitlines()[1])]
    for stem in (*STEMS, "all"):
        row = f"{'mean' if stem == 'all' else stem:8}"
        for metric in METRICS:
            model, floor, ceiling = (mean[e][stem][metric] for e in ESTIMATES)
            row += f"  {model:7.2f} {floor:7.2f} {ceiling:8.2f} {ceiling - model:8.2f}"
        lines.append(row)
    return "\n".join(lines)


def to_json_safe(value):
    """NaN/inf (not valid JSON) become null, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: to_json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_safe(v) for v in value]
    return value


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")
