"""The whole bench in one run: ours, the peers on the same audio, the engine, quality; headline ratios.

Order matters for memory: our model runs first, before torch and the peers are loaded, so the process's peak
resident set then is ours alone (plus the interpreter and libraries).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from demixui.bench.machine import describe_machine
from demixui.bench.table import Row

SAMPLE_RATE = 44100
DEFAULT_TEST_SET = Path("data/test")


@dataclass
class BenchOptions:
    """What to run; seconds are seconds of audio (the engine's are real time)."""

    models: list[Path | None] = field(default_factory=lambda: [None])
    audio: Path | None = None
    test_set: Path | None = None
    seconds: float = 30.0
    peer_seconds: float = 10.0
    peers: list[str] = field(default_factory=lambda: ["umxl", "umx-uni", "htdemucs", "hs-tasnet"])
    engine_seconds: float = 45.0
    blocksizes: list[int] = field(default_factory=lambda: [128, 256, 512, 1024])
    eval_tracks: int | None = 8
    reps: int = 3
    quick: bool = False
    cores_seconds: float = 60.0  # audio per file in the per-core rows (one file, and one per core)
    cores_only: bool = False  # measure only the per-core rows (cores.py)
    live_models: list[Path] | None = None  # live rows (live.py); None: the bundled default and live models
    live_blocksizes: list[int] = field(default_factory=lambda: [64, 128, 256])
    live_seconds: float = 30.0  # real time per model and block size on the JACK dummy server
    live_only: bool = False  # measure only the live rows


def synthetic_mix(nb_samples: int, seed: int = 0) -> np.ndarray:
    """A deterministic music-like stereo signal `(nb_samples, 2)` float32: a bass line, chords, noise hits."""
    rng = np.random.default_rng(seed)
    t = np.arange(nb_samples) / SAMPLE_RATE
    beat = 0.5  # seconds
    step = (t // beat).astype(np.int64)
    bass_notes = 55.0 * 2 ** (rng.integers(0, 12, size=step.max() + 1) / 12)
    mix = 0.3 * np.sin(2 * np.pi * bass_notes[step] * t)
    for ratio in (1.0, 1.25, 1.5):
        mix += 0.1 * np.sin(2 * np.pi * 220.0 * ratio * t + ratio)
    envelope = np.exp(-((t % beat) / 0.03))
    mix += 0.3 * envelope * rng.standard_normal(nb_samples)
    stereo = np.stack([mix, np.roll(mix, 17)], axis=1)
    return (0.5 * stereo / np.max(np.abs(stereo))).astype(np.float32)


def bench_audio(options: BenchOptions) -> tuple[np.ndarray, str]:
    """The audio every system runs on, `(nb_samples, 2)` at 44.1 kHz, and where it came from: --audio, else
    the shipped demo track, else the first test-set mixture, else a synthetic signal."""
    from demixui.assets import DEMO_TRACK, asset_path
    from demixui.audiofile import read_audio

    nb_samples = int(options.seconds * SAMPLE_RATE)
    source: Path | None = options.audio
    if source is None and asset_path(DEMO_TRACK).is_file():
        source = asset_path(DEMO_TRACK)
    if source is None and options.test_set is not None:
        try:
            from demixui.data.musdb import list_tracks

            source = list_tracks(options.test_set)[0] / "mixture.wav"
        except Exception:  # noqa: BLE001 - an unusable test set is reported by the quality rows
            source = None
    if source is None:
        return synthetic_mix(nb_samples), "synthetic (bass line, chords and noise hits, seed 0)"
    audio, _ = read_audio(source, SAMPLE_RATE)
    if audio.shape[0] < nb_samples:  # loop a short file to the asked length
        audio = np.tile(audio, (int(np.ceil(nb_samples / audio.shape[0])), 1))
    return np.ascontiguousarray(audio[:nb_samples]), _shown(source)


def _shown(path: Path) -> str:
    """`path` relative to the working folder when it lies inside it (BENCHMARKS.md names repository files)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def headlines(rows: list[Row]) -> list[dict]:
    """Our first model against each peer: latency and compute-per-second ratios (peer / ours)."""
    speed = [row for row in rows if row.table == "speed"]
    ours = next((row for row in speed if row.name.startswith("demixui")), None)
    if ours is None:
        return []
    out = []
    for peer in speed:
        if peer.name.startswith("demixui"):
            continue
        item: dict = {"peer": peer.name}
        parts = []
        if "min_latency_ms" in peer.figures and "min_latency_ms" in ours.figures:
            item["latency_ratio"] = peer.figures["min_latency_ms"] / ours.figures["min_latency_ms"]
            theirs_ms, ours_ms = peer.figures["min_latency_ms"], ours.figures["min_latency_ms"]
            parts.append(f"{item['latency_ratio']:.1f}x our latency ({theirs_ms:.0f} ms vs {ours_ms:.0f} ms)")
        elif peer.reason and "keep up" in peer.reason:
            parts.append("cannot run in real time on one thread here (ours can)")
        if "offline_rtf" in peer.figures and "offline_rtf" in ours.figures:
            item["compute_ratio"] = peer.figures["offline_rtf"] / ours.figures["offline_rtf"]
            parts.append(f"{item['compute_ratio']:.1f}x our compute per second of audio "
                         f"({peer.figures['offline_rtf']:.3f} vs {ours.figures['offline_rtf']:.3f} s/s)")
        if not parts:
            continue
        item["text"] = f"{peer.name}: " + "; ".join(parts)
        out.append(item)
    return out


def run_bench(options: BenchOptions, log: Callable[[str], None] = print) -> tuple[dict, list[Row]]:
    """Run every part; returns the JSON-ready report {machine, audio, options, timing, rows, headlines} and
    the rows themselves (for the tables)."""
    from demixui.bench.cores import measure_cores
    from demixui.bench.engine import measure_engine
    from demixui.bench.ours import measure_ours
    from demixui.bench.peers import PEERS, measure_peer
    from demixui.bench.quality import measure_quality

    machine = describe_machine()
    wall, cpu = time.perf_counter(), time.process_time()
    mix, audio_source = bench_audio(options)
    rows: list[Row] = []
    details: list[Row] = []
    if options.cores_only:
        rows += measure_cores(options.models[0], mix, SAMPLE_RATE, options.cores_seconds, log)
        return _report(options, machine, audio_source, mix, mix, wall, cpu, rows), rows
    if options.live_only:
        rows += _live_rows(options, mix, log)
        return _report(options, machine, audio_source, mix, mix, wall, cpu, rows), rows
    for model_path in options.models:
        log(f"ours: {model_path or 'the shipped model'} on {mix.shape[0] / SAMPLE_RATE:.0f} s of audio ...")
        speed, detail = measure_ours(model_path, mix, reps=options.reps)
        rows.append(speed)
        details.append(detail)
    peer_mix = mix[:int(options.peer_seconds * SAMPLE_RATE)]
    for key, (title, _) in PEERS.items():
        if key not in options.peers:
            why = "--quick runs only the quickest peer" if options.quick else "not in --peers"
            rows.append(Row("speed", title, {}, reason=f"not run: {why} (choose peers with --peers)"))
            continue
        log(f"peer: {title} on {peer_mix.shape[0] / SAMPLE_RATE:.0f} s of the same audio ...")
        rows.append(measure_peer(key, peer_mix, reps=options.reps))
    rows += details
    first_model = options.models[0]
    rows += measure_engine(first_model, options.blocksizes, options.engine_seconds, mix, log)
    log("quality: floor, model and ceiling on the test set ...")
    rows += measure_quality(first_model, options.test_set, options.eval_tracks)
    if first_model is None:  # the shipped default: the live model's quality beside it (issue 14)
        from demixui.bench.live import bundled_models

        for live_model in bundled_models()[1:]:
            log(f"quality: {live_model.name} on the test set ...")
            rows += measure_quality(live_model, options.test_set, options.eval_tracks, beside=True)
    rows += measure_cores(first_model, mix, SAMPLE_RATE, options.cores_seconds, log)
    rows += _live_rows(options, mix, log)
    return _report(options, machine, audio_source, mix, peer_mix, wall, cpu, rows), rows


def _live_rows(options: BenchOptions, mix: np.ndarray, log: Callable[[str], None]) -> list[Row]:
    """The live section: each model's compute per hop on the bench audio, then the JACK rows."""
    from demixui.bench.live import bundled_models, measure_hop_compute, measure_live

    models = options.live_models or bundled_models()
    return (measure_hop_compute(models, mix, log)
            + measure_live(models, options.live_blocksizes, options.live_seconds, log))


def _json_value(value):
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return str(value) if isinstance(value, Path) else value


def _report(options: BenchOptions, machine: dict, audio_source: str, mix: np.ndarray, peer_mix: np.ndarray,
            wall: float, cpu: float, rows: list[Row]) -> dict:
    return {
        "machine": machine,
        "audio": {"source": audio_source, "seconds": mix.shape[0] / SAMPLE_RATE,
                  "peer_seconds": peer_mix.shape[0] / SAMPLE_RATE, "sample_rate": SAMPLE_RATE},
        "options": {k: _json_value(v) for k, v in vars(options).items()}
        | {"models": [str(m) if m else "shipped default" for m in options.models]},
        "timing": {"clock": "CPU time of the bench process (every system runs on one thread)",
                   "wall_seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu},
        "rows": [row.to_json() for row in rows],
        "headlines": headlines(rows),
    }
