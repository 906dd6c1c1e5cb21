"""`demixui.data.features` on signals whose statistics are known in closed form, and `data stats --against`.

Tolerances: spectra are estimated from 46 ms Hann frames (bins of 21.5 Hz), so band shares of white noise
are within a few tenths of a percent of the bandwidth ratio and a sine's centroid within 1 Hz.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from demixui.cli import main
from demixui.data.features import KEYS, signal_features

RATE = 44100
SECONDS = 3.0
TIME = np.arange(int(RATE * SECONDS)) / RATE


def stereo(mono: np.ndarray) -> np.ndarray:
    return np.stack([mono, mono], axis=1).astype(np.float32)


def sine(freq: float, amplitude: float = 0.5) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq * TIME)


def bursts(carrier: np.ndarray, per_second: float, length: float, fade: float = 0.01):
    """`(carrier gated into bursts of length s every 1/per_second s with raised-cosine fades, nb_bursts)`."""
    out = np.zeros_like(carrier)
    starts = np.arange(0.1, SECONDS - length, 1 / per_second)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, int(fade * RATE)))
    for start in starts:
        i0, i1 = int(start * RATE), int((start + length) * RATE)
        envelope = np.ones(i1 - i0)
        envelope[: len(ramp)], envelope[-len(ramp):] = ramp, ramp[::-1]
        out[i0:i1] = carrier[i0:i1] * envelope
    return out, len(starts)


def test_a_sine_has_its_frequency_as_centroid_and_no_flatness():
    stats = signal_features(stereo(sine(1000.0)))
    assert set(stats) == set(KEYS)
    assert stats["centroid"] == pytest.approx(1000.0, abs=1.0)
    assert stats["flatness"] < 1e-4
    assert stats["crest"] == pytest.approx(20 * np.log10(np.sqrt(2)), abs=0.05)  # 3.01 dB
    assert stats["active"] == 1.0 and stats["level_spread"] < 0.1
    assert stats["side_mid"] == -60.0  # mono: the floor
    assert stats["spectral_change"] < 0.05 and stats["onsets"] == 0.0
    assert stats["below_150"] < 1e-4 and stats["band_2k_8k"] < 1e-4 and stats["above_16k"] < -80


@pytest.mark.parametrize("freq, key", [(80.0, "below_150"), (4000.0, "band_2k_8k"), (12000.0, "above_8k")])
def test_a_sine_puts_its_energy_in_its_band(freq, key):
    assert signal_features(stereo(sine(freq)))[key] > 0.999


def test_white_noise_is_flat_and_its_band_shares_are_bandwidth_ratios():
    noise = np.random.default_rng(0).normal(0.0, 0.1, (len(TIME), 2)).astype(np.float32)
    stats = signal_features(noise)
    nyquist = RATE / 2
    assert stats["flatness"] > 0.98
    assert stats["centroid"] == pytest.approx(nyquist / 2, rel=0.01)
    assert stats["below_150"] == pytest.approx(150 / nyquist, abs=0.002)
    assert stats["band_2k_8k"] == pytest.approx(6000 / nyquist, abs=0.005)
    assert stats["above_8k"] == pytest.approx((nyquist - 8000) / nyquist, abs=0.005)
    assert stats["above_16k"] == pytest.approx(10 * np.log10((nyquist - 16000) / nyquist), abs=0.1)
    assert stats["crest"] == pytest.approx(20 * np.log10(3.29), abs=0.2)  # 99.9th percentile of |N(0, 1)|
    assert stats["side_mid"] == pytest.approx(0.0, abs=0.1)  # independent channels: side and mid alike
    assert stats["onsets"] == 0.0


def test_side_mid_of_panned_and_narrow_signals():
    mono = sine(440.0)
    left_only = np.stack([mono, np.zeros_like(mono)], axis=1)
    assert signal_features(left_only)["side_mid"] == pytest.approx(0.0, abs=1e-6)
    narrow = np.stack([1.1 * mono, 0.9 * mono], axis=1)  # side = 0.1 mid
    assert signal_features(narrow)["side_mid"] == pytest.approx(-20.0, abs=1e-3)
    assert signal_features(np.stack([mono, -mono], axis=1))["side_mid"] == 60.0  # out of phase: the cap


def test_a_stem_silent_half_the_time_is_active_half_the_time():
    half = sine(440.0)
    half[len(half) // 2:] = 0.0
    stats = signal_features(stereo(half))
    assert stats["active"] == pytest.approx(0.5, abs=0.02)
    assert stats["centroid"] == pytest.approx(440.0, abs=1.0)  # the silent half does not count


def test_level_spread_of_two_levels():
    steps = sine(440.0) * np.where(np.floor(TIME * 2) % 2 == 0, 1.0, 0.1)  # 0 and -20 dB, 500 ms each
    assert signal_features(stereo(steps))["level_spread"] == pytest.approx(20.0, abs=0.1)


@pytest.mark.parametrize("carrier", ["sine", "harmonic", "noise"])
@pytest.mark.parametrize("per_second", [2.0, 5.0])
def test_onsets_count_the_bursts(carrier, per_second):
    signal = {
        "sine": sine(330.0),
        "harmonic": sum(sine(220.0 * k, 0.3 / k) for k in range(1, 12)),
        "noise": np.random.default_rng(1).normal(0.0, 0.2, len(TIME)),
    }[carrier]
    gated, count = bursts(signal, per_second, 0.6 / per_second)
    stats = signal_features(stereo(gated))
    nb_frames = (len(TIME) - 2048) // 1024 + 1
    active_seconds = stats["active"] * nb_frames * 1024 / RATE
    assert stats["onsets"] * active_seconds == pytest.approx(count, abs=0.01)
    assert stats["spectral_change"] > signal_features(stereo(signal))["spectral_change"] + 1.0


def test_silence_has_no_statistics():
    stats = signal_features(np.zeros((RATE, 2), dtype=np.float32))
    assert stats["active"] == 0.0
    assert all(np.isnan(stats[key]) for key in KEYS if key != "active")


def write_track(folder: Path, stems: dict[str, np.ndarray]) -> None:
    folder.mkdir(parents=True)
    for name, audio in stems.items():
        sf.write(str(folder / f"{name}.wav"), audio, RATE, subtype="PCM_16")
    sf.write(str(folder / "mixture.wav"), sum(stems.values()), RATE, subtype="PCM_16")


def tiny_folder(root: Path, drums_freq: float, nb_tracks: int = 2) -> Path:
    """Tracks whose drums are a sine at `drums_freq` (so the drums' centroid is known), vocals silent in the
    last track (left out of the vocal medians)."""
    for index in range(nb_tracks):
        vocals = bursts(sine(500.0, 0.2), 3.0, 0.15)[0] if index < nb_tracks - 1 else 0 * TIME
        stems = {"vocals": vocals, "drums": sine(drums_freq, 0.2), "bass": sine(60.0, 0.2),
                 "other": np.random.default_rng(index).normal(0, 0.02, len(TIME))}
        write_track(root / f"track{index}", {name: stereo(audio) for name, audio in stems.items()})
    return root


def test_stats_against_prints_both_medians_and_their_ratio(tmp_path, capsys):
    generated = tiny_folder(tmp_path / "gen", 2000.0)
    real = tiny_folder(tmp_path / "real", 500.0, nb_tracks=3)
    assert main(["data", "stats", str(generated), "--against", str(real)]) == 0
    out = capsys.readouterr().out
    blocks = {block.split(" ", 1)[0]: block for block in out.split("\n\n")[1:]}
    assert set(blocks) == {"vocals", "drums", "bass", "other", "mix"}
    assert "(tracks: 1 / 2)" in blocks["vocals"] and "(tracks: 2 / 3)" in blocks["drums"]
    assert "vs real" in blocks["drums"].splitlines()[1]
    centroid = next(line for line in blocks["drums"].splitlines() if line.startswith("spectral centroid"))
    assert centroid.split()[-3:] == ["2000", "500", "x4"]
    side_mid = next(line for line in blocks["bass"].splitlines() if line.startswith("side/mid"))
    assert side_mid.split()[-3:] == ["-60.0", "-60.0", "+0.0"]


def test_stats_alone_prints_the_medians_by_stem(tmp_path, capsys):
    folder = tiny_folder(tmp_path / "gen", 2000.0)
    assert main(["data", "stats", "--strict", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "2 of 2" in out
    table = out.split("medians over tracks", 1)[1].splitlines()
    assert table[1].split() == ["statistic", "vocals", "drums", "bass", "other", "mix"]
    active = next(line for line in table if line.startswith("active frames"))
    assert active.split()[-4:-1] == ["100", "100", "100"]


def test_stats_reads_stem_files(tmp_path, capsys):
    from tests.aac_files import write_aac

    stems = [stereo(sine(f, 0.2)[:RATE]) for f in (300.0, 1000.0, 80.0, 3000.0)]  # drums, bass, other, vocals
    write_aac(tmp_path / "A - B.stem.mp4", [sum(stems), *stems])
    assert main(["data", "stats", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    centroid = next(line for line in out.splitlines() if line.startswith("spectral centroid"))
    vocals, drums, bass, other = (float(cell) for cell in centroid.split()[-5:-1])
    assert (vocals, drums, bass, other) == pytest.approx((3000.0, 300.0, 1000.0, 80.0), rel=0.02)


def test_a_missing_real_folder_fails_before_any_work(tmp_path, capsys):
    generated = tiny_folder(tmp_path / "gen", 2000.0, nb_tracks=1)
    assert main(["data", "stats", str(generated), "--against", str(tmp_path / "missing")]) == 1
    captured = capsys.readouterr()
    assert "reading" not in captured.err and "missing: no such folder" in captured.err
