"""Realistic-mix augmentations: mix-wide processing commutes with the sum of the stems, mono is exactly mono,
the drums alone get darker, shapes and dtypes hold, the same rng gives the same chunks, and they are off by
default (no rng draw, so old runs sample the same chunks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from demixui.data.musdb import STEMS, list_tracks
from demixui.model.augment import (
    AUGMENTATIONS,
    DRUMS,
    Augmentation,
    ChunkSampler,
    drums_darken_sos,
    mix_eq_sos,
    narrow_stereo,
    realistic_mix,
    shelf_sos,
)

RATE = 44100
OFF = dict(narrow_probability=0.0, mono_probability=0.0, mix_eq_probability=0.0, drums_darken_probability=0.0)


def _noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def _band_energy(audio: np.ndarray, low_hz: float, high_hz: float) -> float:
    """Energy of `audio` (nb_samples, 2) between the two frequencies."""
    spectrum = np.abs(np.fft.rfft(audio, axis=0)) ** 2
    freqs = np.fft.rfftfreq(audio.shape[0], 1 / RATE)
    return float(spectrum[(freqs >= low_hz) & (freqs < high_hz)].sum())


@pytest.mark.parametrize(("kind", "gain_db", "dc_db", "nyquist_db"),
                         [("low", 5.0, 5.0, 0.0), ("high", -9.0, 0.0, -9.0)])
def test_shelves_have_their_gain_on_their_side(kind, gain_db, dc_db, nyquist_db):
    _, response = signal.sosfreqz(shelf_sos(kind, 1000.0, gain_db), worN=[1.0, RATE / 2 - 1.0], fs=RATE)
    np.testing.assert_allclose(20 * np.log10(np.abs(response)), [dc_db, nyquist_db], atol=0.01)
    with pytest.raises(ValueError, match="shelf kind"):
        shelf_sos("mid", 1000.0, 3.0)


def test_random_filters_are_stable():
    for seed in range(50):
        rng = np.random.default_rng(seed)
        for sos in (mix_eq_sos(rng), drums_darken_sos(rng)):
            poles = np.concatenate([np.roots(section[3:]) for section in sos])
            assert np.all(np.abs(poles) < 1.0), (seed, sos)


def test_mix_wide_processing_is_the_same_on_the_stems_as_on_their_sum():
    """EQ and narrowing are applied identically to every stem: processing the stems and summing them gives
    what processing the mixture gives, so the mixture the trainer sums stays a record of the same chain."""
    stems = _noise((4, 8192, 2))
    aug = Augmentation(**{**OFF, "narrow_probability": 1.0, "mix_eq_probability": 1.0})
    for seed in range(5):
        summed = realistic_mix(stems.copy(), np.random.default_rng(seed), aug).sum(axis=0)
        processed_mix = realistic_mix(stems.sum(axis=0)[None], np.random.default_rng(seed), aug)[0]
        np.testing.assert_allclose(summed, processed_mix, atol=2e-6)  # float32 rounding of a sum of four
        assert not np.allclose(summed, stems.sum(axis=0), atol=1e-3)  # and it did something


def test_mono_is_exactly_mono_and_keeps_the_mid():
    stems = _noise((4, 4096, 2))
    aug = Augmentation(**{**OFF, "narrow_probability": 1.0, "mono_probability": 1.0})
    out = realistic_mix(stems.copy(), np.random.default_rng(0), aug)
    assert out.shape == stems.shape and out.dtype == np.float32
    assert np.array_equal(out[..., 0], out[..., 1])
    np.testing.assert_allclose(out[..., 0], 0.5 * (stems[..., 0] + stems[..., 1]), rtol=1e-6)


def test_narrowing_scales_the_side_and_keeps_the_mid():
    stems = _noise((4, 4096, 2))
    out = narrow_stereo(stems, 0.25)
    mid, side = (lambda x: 0.5 * (x[..., 0] + x[..., 1])), (lambda x: 0.5 * (x[..., 0] - x[..., 1]))
    np.testing.assert_allclose(mid(out), mid(stems), atol=1e-7)
    np.testing.assert_allclose(side(out), 0.25 * side(stems), atol=1e-7)
    assert out.dtype == np.float32


def test_drums_alone_get_darker():
    stems = _noise((4, RATE, 2))
    aug = Augmentation(**{**OFF, "drums_darken_probability": 1.0})
    for seed in range(5):
        out = realistic_mix(stems.copy(), np.random.default_rng(seed), aug)
        others = [index for index in range(4) if index != DRUMS]
        assert np.array_equal(out[others], stems[others])
        before, after = _band_energy(stems[DRUMS], 8000, 22050), _band_energy(out[DRUMS], 8000, 22050)
        assert after < before / 2, (seed, after / before)  # at least 3 dB less above 8 kHz
        low_ratio = _band_energy(out[DRUMS], 20, 500) / _band_energy(stems[DRUMS], 20, 500)
        assert 0.8 < low_ratio < 1.2  # the body of the kit stays


def test_off_by_default_draws_nothing():
    stems = _noise((4, 512, 2))
    rng = np.random.default_rng(3)
    before = rng.bit_generator.state
    assert realistic_mix(stems, rng, Augmentation()) is stems
    assert rng.bit_generator.state == before
    assert AUGMENTATIONS["standard"] == Augmentation()


@pytest.mark.parametrize("preset", ["real", "records"])
def test_realistic_presets_use_each_augmentation_about_as_often_as_they_say(preset):
    aug = AUGMENTATIONS[preset]
    stems = _noise((4, 2048, 2))
    trials = 600
    mono = darker_drums = 0
    for seed in range(trials):
        out = realistic_mix(stems.copy(), np.random.default_rng(seed), aug)
        mono += bool(np.array_equal(out[..., 0], out[..., 1]))
        # The stems are noise of one spectrum, and the mix-wide steps treat them alike: drums with much less
        # energy above 8 kHz than the vocals were darkened (a shelf of at least -3 dB below 4 kHz).
        high = [_band_energy(out[index], 8000, 22050) for index in (DRUMS, STEMS.index("vocals"))]
        darker_drums += bool(high[0] < 0.7 * high[1])
    assert abs(mono / trials - aug.narrow_probability * aug.mono_probability) < 0.04, mono / trials
    assert abs(darker_drums / trials - aug.drums_darken_probability) < 0.08, darker_drums / trials


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("augment_corpus")
    for index in range(2):
        track = root / f"track{index}"
        track.mkdir()
        stems = _noise((4, RATE, 2), seed=index)
        for stem, audio in zip(STEMS, stems, strict=True):
            sf.write(track / f"{stem}.wav", audio, RATE, subtype="FLOAT")
        sf.write(track / "mixture.wav", stems.sum(axis=0), RATE, subtype="FLOAT")
    return root


def test_sampler_with_real_mixes_keeps_shapes_and_is_deterministic(corpus):
    sampler = ChunkSampler(list_tracks(corpus), 11025, AUGMENTATIONS["real"])
    batch = sampler.batch(np.random.default_rng(5), 6)
    assert batch.shape == (6, 4, 11025, 2) and batch.dtype == np.float32
    assert np.all(np.isfinite(batch))
    assert np.array_equal(batch, sampler.batch(np.random.default_rng(5), 6))
    assert not np.array_equal(batch, sampler.batch(np.random.default_rng(6), 6))
