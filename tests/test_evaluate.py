"""`demixui evaluate` and its references: the floor (mixture as estimate) and the oracle-mask ceiling."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf

from demixui.cli import main
from demixui.data.musdb import STEMS
from demixui.model.evaluation import oracle_ratio_mask, score_stems
from dsp.metrics import sdr
from dsp.stft import StftConfig

RATE = 44100


def synthetic_stems(nb_samples: int, seed: int) -> np.ndarray:
    """`(4, nb_samples, 2)` float32 in STEMS order: vibrato voice, noise-burst drums, bass line, chord."""
    rng = np.random.default_rng(seed)
    t = np.arange(nb_samples) / RATE
    f0 = 300 + 40 * seed
    gate = np.sin(2 * np.pi * 0.7 * t) > -0.3
    voice = 0.2 * np.sin(2 * np.pi * f0 * t + 3 * np.sin(2 * np.pi * 5 * t)) * gate
    drums = 0.3 * rng.standard_normal(nb_samples) * np.exp(-((t * 4) % 1.0) * 20)
    bass = 0.3 * np.sin(2 * np.pi * (55 + 10 * seed) * t)
    other = 0.1 * sum(np.sin(2 * np.pi * f * t) for f in (523.3, 659.3, 784.0))
    mono = np.stack([voice, drums, bass, other])
    pan = np.array([0.5, 0.4, 0.5, 0.7])[:, None]
    return np.stack([mono * pan * 2, mono * (1 - pan) * 2], axis=2).astype(np.float32)


def write_track(folder, stems: np.ndarray) -> None:
    folder.mkdir(parents=True)
    for name, audio in zip(STEMS, stems, strict=True):
        sf.write(str(folder / f"{name}.wav"), audio, RATE, subtype="FLOAT")
    sf.write(str(folder / "mixture.wav"), stems.sum(axis=0), RATE, subtype="FLOAT")


@pytest.fixture(scope="module")
def musdb_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("musdb")
    for seed in (1, 2):
        write_track(root / f"track {seed}", synthetic_stems(3 * RATE + 123 * seed, seed))
    return root


def test_oracle_with_one_stem_holding_everything_returns_it_aligned():
    stems = np.zeros((4, 20000, 2), np.float32)
    stems[1] = synthetic_stems(20000, 1)[0]
    estimates = oracle_ratio_mask(stems.sum(axis=0), stems, StftConfig())
    assert estimates.shape == stems.shape
    # Mask 1 for the only stem (1/4 each where all are silent, but so is the mix there): exact and aligned.
    np.testing.assert_allclose(estimates, stems, rtol=0, atol=1e-5)


def test_oracle_separates_sources_apart_in_frequency():
    stems = synthetic_stems(2 * RATE, 1)
    stems[1] = 0.0  # the drums' noise overlaps everything; without it the rest is far apart in frequency
    estimates = oracle_ratio_mask(stems.sum(axis=0), stems, StftConfig())
    scores = score_stems(stems, estimates)
    for stem in ("vocals", "bass", "other"):
        assert scores[stem]["sdr"] > 15, scores


def test_evaluate_writes_a_table_and_json_with_floor_below_ceiling(tiny_model_path, musdb_root, tmp_path,
                                                                   capsys):
    out = tmp_path / "scores.json"
    assert main(["evaluate", str(musdb_root), "--model", tiny_model_path, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for word in ("model", "floor", "ceiling", "gap", *STEMS, "mean"):
        assert word in printed, (word, printed)

    report = json.loads(out.read_text())
    assert [t["name"] for t in report["tracks"]] == ["track 1", "track 2"]
    for scores in [*(t for t in report["tracks"]), report["mean"]]:
        for estimate in ("model", "floor", "ceiling"):
            for stem in STEMS:
                for metric in ("sdr", "sdr_median_1s"):
                    value = scores[estimate][stem][metric]
                    assert isinstance(value, float) and math.isfinite(value), (estimate, stem, metric, value)
    mean = report["mean"]
    for stem in STEMS:
        assert mean["floor"][stem]["sdr"] < mean["ceiling"][stem]["sdr"], stem
        assert mean["ceiling"][stem]["sdr"] > 5, (stem, mean["ceiling"][stem])
    assert mean["floor"]["all"]["sdr"] < mean["ceiling"]["all"]["sdr"]
    assert report["model"]["model_version"] == "tiny-test"


def test_floor_is_the_mixture_scored_against_each_stem(tiny_model_path, musdb_root, tmp_path):
    out = tmp_path / "scores.json"
    code = main(["evaluate", str(musdb_root / "track 1"), "--model", tiny_model_path, "--json", str(out)])
    assert code == 0
    track = json.loads(out.read_text())["tracks"][0]
    stems = synthetic_stems(3 * RATE + 123, 1)
    mixture = stems.sum(axis=0)
    for index, stem in enumerate(STEMS):
        assert track["floor"][stem]["sdr"] == pytest.approx(sdr(stems[index], mixture), abs=1e-3)


def test_a_folder_without_tracks_is_one_line_and_exit_1(tiny_model_path, tmp_path, capsys):
    assert main(["evaluate", str(tmp_path), "--model", tiny_model_path]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("demixui: error:") and "no tracks found" in err and "\n" not in err


@pytest.fixture(scope="module")
def stem_file_root(tmp_path_factory):
    """Two NI stem files (mixture, drums, bass, other, vocals as AAC), the second with silent vocals."""
    from tests.aac_files import write_aac

    root = tmp_path_factory.mktemp("stems")
    for seed in (1, 2):
        stems = synthetic_stems(2 * RATE, seed)
        if seed == 2:
            stems[0] = 0.0  # an instrumental
        vocals, drums, bass, other = stems
        # The coded mixture stream is deliberately wrong: evaluate must use the sum of the stems.
        coded_mixture = 0.5 * stems.sum(axis=0)
        write_aac(root / f"Artist - Song {seed}.stem.mp4", [coded_mixture, drums, bass, other, vocals])
    (root / "notes.txt").write_text("not a track\n")
    return root


def test_evaluate_stem_files_uses_the_stem_sum_and_skips_silent_stems(tiny_model_path, stem_file_root,
                                                                      tmp_path):
    from demixui.data.musdb import STEM_FILE_TRIM, list_tracks, load_track

    tracks = list_tracks(stem_file_root)
    assert [t.name for t in tracks] == ["Artist - Song 1.stem.mp4", "Artist - Song 2.stem.mp4"]
    mixture, stems = load_track(tracks[0])
    assert stems.shape == (4, 2 * RATE - 2 * STEM_FILE_TRIM, 2)
    np.testing.assert_allclose(mixture, stems.sum(axis=0), atol=1e-6)
    # Decoded stems (STEMS order: vocals first) match what was encoded, trimmed at both ends, to AAC's
    # precision (about 11 dB on the noise bursts; a shift by one sample would leave them below 0 dB).
    reference = synthetic_stems(2 * RATE, 1)[:, STEM_FILE_TRIM:-STEM_FILE_TRIM]
    for index, stem in enumerate(STEMS):
        assert sdr(reference[index], stems[index]) > 8, stem

    out = tmp_path / "scores.json"
    assert main(["evaluate", str(stem_file_root), "--model", tiny_model_path, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [t["name"] for t in report["tracks"]] == ["Artist - Song 1", "Artist - Song 2"]
    first, second = report["tracks"]
    assert second["model"]["vocals"]["sdr"] is None  # silent: skipped (null in JSON), not -inf or 0
    assert first["floor"]["vocals"]["sdr"] == pytest.approx(sdr(stems[0], mixture), abs=1e-3)
    mean = report["mean"]
    assert mean["floor"]["vocals"]["sdr"] == pytest.approx(first["floor"]["vocals"]["sdr"])  # one track only
    assert mean["floor"]["drums"]["sdr"] == pytest.approx(
        (first["floor"]["drums"]["sdr"] + second["floor"]["drums"]["sdr"]) / 2)


def test_json_never_replaces_an_input_and_gets_umask_permissions(tiny_model_path, musdb_root, tmp_path,
                                                                 capsys):
    import os

    mixture = musdb_root / "track 1" / "mixture.wav"
    before = mixture.read_bytes()
    assert main(["evaluate", str(musdb_root), "--model", tiny_model_path, "--json", str(mixture)]) == 1
    err = capsys.readouterr().err.strip()
    assert "the input" in err and "\n" not in err and "[1/" not in err, err  # refused before any work
    assert mixture.read_bytes() == before
    out = tmp_path / "scores.json"
    code = main(["evaluate", str(musdb_root / "track 1"), "--model", tiny_model_path, "--json", str(out)])
    assert code == 0
    mask = os.umask(0o022)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_failing_later_track_keeps_the_finished_scores(tiny_model_path, tmp_path, capsys):
    write_track(tmp_path / "root" / "a good", synthetic_stems(2 * RATE, 1))
    write_track(tmp_path / "root" / "b broken", synthetic_stems(2 * RATE, 2))
    (tmp_path / "root" / "b broken" / "mixture.wav").write_bytes(b"RIFF junk")
    out = tmp_path / "scores.json"
    assert main(["evaluate", str(tmp_path / "root"), "--model", tiny_model_path, "--json", str(out)]) == 1
    err = capsys.readouterr().err
    assert "demixui: error:" in err and "mixture.wav" in err and "Traceback" not in err
    report = json.loads(out.read_text())
    assert [t["name"] for t in report["tracks"]] == ["a good"] and "mixture.wav" in report["incomplete"]
    assert math.isfinite(report["mean"]["model"]["all"]["sdr"])
