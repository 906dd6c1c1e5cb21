"""Mastering on the mix, applied to every stem alike: processing the stems one by one gives what processing
their sum would (so the mixture stays their sum), the compressor's gain follows the mix, the tilt moves the
mix toward its drawn balance, and some songs are dual mono."""

from __future__ import annotations

import numpy as np

from demixui.data import mastering

SR = 44100
STEMS = mastering.STEMS


def song(seed: int, seconds: float = 4.0) -> dict[str, np.ndarray]:
    """Four stems, loud in the middle second, with their own stereo images and spectra."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    swell = np.where((t > 1.5) & (t < 2.5), 1.0, 0.2)[:, None]
    stems = {}
    for index, stem in enumerate(STEMS):
        tone = np.sin(2 * np.pi * (60 * (index + 1)) * t)[:, None] * [0.3, 0.2]
        stems[stem] = ((rng.normal(0, 0.05, (len(t), 2)) + tone) * swell).astype(np.float32)
    return stems


def test_processing_the_stems_equals_processing_their_sum():
    for seed in range(12):
        stems = song(seed)
        total = sum(stems[s] for s in STEMS)
        alone = {s: np.zeros_like(total) for s in STEMS}
        alone["other"] = total
        out, info = mastering.master(dict(stems), np.random.default_rng(seed))
        reference, same_info = mastering.master(alone, np.random.default_rng(seed))
        assert info == same_info, (info, same_info)  # decisions taken on the mix, not on the stems
        # float32 filters round differently on the parts than on the sum: within about 3 int16 steps
        np.testing.assert_allclose(sum(out[s] for s in STEMS), reference["other"], atol=1e-4)
        assert not np.array_equal(out["drums"], stems["drums"])  # and it did something


def test_bus_compressor_pulls_the_loud_part_down_by_the_ratio():
    stems = song(0)
    mix = sum(stems[s] for s in STEMS)
    gain = mastering.compressor_gain(mix, threshold_db=-20.0, ratio=4.0, attack_s=0.01, release_s=0.1)
    quiet, loud = 20 * np.log10(gain[int(1.0 * SR)]), 20 * np.log10(gain[int(2.2 * SR)])
    level = 10 * np.log10(np.mean(mix[int(1.8 * SR) : int(2.4 * SR)] ** 2))
    expected = -(level + 20.0) * (1 - 1 / 4)
    assert abs(quiet) < 0.5 and abs(loud - expected) < 1.0, (quiet, loud, expected)


def test_tilt_moves_the_mix_toward_records_and_some_songs_are_mono():
    heavy = {s: np.repeat(np.sin(np.arange(SR) * 2 * np.pi * 50 / SR)[:, None], 2, axis=1) for s in STEMS}
    noise = np.random.default_rng(0).normal(0, 0.1, (SR, 2))  # white: 0.7 % below 150 Hz, 64 % above 8 kHz
    thin = {s: noise.astype(np.float32) for s in STEMS}
    monos = 0
    for seed in range(60):
        _, heavy_info = mastering.master(dict(heavy), np.random.default_rng(seed))
        out, thin_info = mastering.master(dict(thin), np.random.default_rng(seed))
        # drawn targets: 20-55 % below 150 Hz, 0.15-1.5 % above 8 kHz
        assert heavy_info["tilt_db"]["low"] < 0 < thin_info["tilt_db"]["low"], (heavy_info, thin_info)
        assert thin_info["tilt_db"]["high"] < -6, thin_info
        if thin_info.get("mono"):
            monos += 1
            assert all(np.array_equal(out[s][:, 0], out[s][:, 1]) for s in STEMS)
    assert 6 <= monos <= 20, monos


def test_the_vocal_and_other_buses_are_mostly_compressed_and_drums_and_bass_untouched():
    stems = song(2)
    rng = np.random.default_rng

    def swing(x: np.ndarray) -> float:
        return float(10 * np.log10(np.mean(x[2 * SR : int(2.4 * SR)] ** 2) / np.mean(x[:SR] ** 2)))

    for stem in ("vocals", "other"):
        level = stems[stem]  # loud part near -16 dBFS RMS, as the parts reach their buses
        buses = [mastering.stem_bus(stem, level, rng(seed)) for seed in range(20)]
        compressed = [(audio, info) for audio, info in buses if "ratio" in info]
        assert 10 <= len(compressed) <= 19, (stem, len(compressed))
        assert all(("low_shelf_db" in info) == (stem == "other") for _, info in buses)
        reductions = [swing(level) - swing(audio) for audio, _ in compressed]
        assert np.median(reductions) > 1.5 and min(reductions) >= 0, (stem, reductions)
        if stem == "vocals":
            assert next(audio for audio, info in buses if not info) is level  # uncompressed: untouched
    for stem in ("drums", "bass"):  # their one part's chain is their bus
        assert all(mastering.stem_bus(stem, stems[stem], rng(seed))[0] is stems[stem] for seed in range(5))
