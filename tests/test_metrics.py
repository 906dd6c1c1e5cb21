"""SDR, framewise median SDR and SI-SDR against signals with a known signal-to-noise ratio."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsp.metrics import framewise_sdr, framewise_sdr_median, sdr, si_sdr


def _signal_and_noise(level_db: float, nb_samples: int = 5 * 44100, seed: int = 0) -> tuple[np.ndarray, ...]:
    """A reference and noise scaled so that sum s^2 / sum n^2 is exactly `level_db`."""
    rng = np.random.default_rng(seed)
    t = np.arange(nb_samples)[:, None] / 44100
    reference = (0.5 * np.sin(2 * np.pi * 220 * t * np.array([1.0, 1.5])) + 0.1 * rng.standard_normal(
        (nb_samples, 2))).astype(np.float32)
    noise = rng.standard_normal((nb_samples, 2))
    noise *= math.sqrt(np.sum(reference.astype(np.float64) ** 2) / np.sum(noise**2) / 10 ** (level_db / 10))
    return reference, noise


@pytest.mark.parametrize("level_db", [-10.0, 0.0, 6.0, 20.0, 40.0])
def test_sdr_of_a_signal_plus_noise_is_the_noise_level(level_db: float) -> None:
    reference, noise = _signal_and_noise(level_db)
    estimate = (reference + noise).astype(np.float32)
    assert sdr(reference, estimate) == pytest.approx(level_db, abs=0.1)
    # One-second windows of stationary noise: each window is near the level, and so is their median.
    assert framewise_sdr_median(reference, estimate) == pytest.approx(level_db, abs=0.1)
    # Independent noise is nearly orthogonal to the reference, so the best scale is ~1.
    assert si_sdr(reference, estimate) == pytest.approx(level_db, abs=0.1)


def test_perfect_estimate_is_very_high_and_silence_is_zero_db() -> None:
    reference, _ = _signal_and_noise(0.0, nb_samples=44100)
    assert sdr(reference, reference) > 100
    assert sdr(reference, np.zeros_like(reference)) == pytest.approx(0.0, abs=1e-6)


def test_si_sdr_ignores_gain_but_sdr_does_not() -> None:
    reference, noise = _signal_and_noise(10.0)
    estimate = reference + noise
    assert si_sdr(reference, 3.0 * estimate) == pytest.approx(si_sdr(reference, estimate), abs=1e-9)
    assert sdr(reference, 3.0 * estimate) < 0  # 3x gain: error 2x the signal


def test_framewise_skips_silent_reference_windows_and_is_nan_with_none_left() -> None:
    reference, noise = _signal_and_noise(12.0, nb_samples=4 * 44100)
    reference[44100 : 3 * 44100] = 0  # two silent windows
    scores = framewise_sdr(reference, reference + noise)
    assert scores.shape == (4,) and np.isnan(scores[1:3]).all() and np.isfinite(scores[[0, 3]]).all()
    assert framewise_sdr_median(reference, reference + noise) == pytest.approx(np.mean(scores[[0, 3]]))
    silent = np.zeros((3 * 44100, 2), np.float32)
    assert math.isnan(framewise_sdr_median(silent, silent + 0.1))
    assert math.isnan(framewise_sdr_median(reference[:1000], reference[:1000]))  # no whole window


def test_bad_shapes_and_dtypes_name_expected_and_received() -> None:
    a = np.zeros((100, 2), np.float32)
    with pytest.raises(ValueError, match=r"estimate of shape \(100, 2\) \(as reference\), got \(100, 1\)"):
        sdr(a, np.zeros((100, 1), np.float32))
    with pytest.raises(ValueError, match=r"reference of shape \(nb_samples, nb_channels\), got \(100,\)"):
        si_sdr(np.zeros(100), np.zeros(100))
    with pytest.raises(ValueError, match="got dtype complex64"):
        framewise_sdr_median(a, a.astype(np.complex64))
