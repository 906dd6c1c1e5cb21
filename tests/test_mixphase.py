"""Mix-phase reconstruction: masks that sum to one give stems that sum to the mixture."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.mixphase import apply_masks, stems_from_magnitudes
from dsp.stft import DEFAULT_CONFIG, istft, stft


def _mixture_frames(nb_samples: int = 8192, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(seed).uniform(-1, 1, (nb_samples, 2)).astype(np.float32)
    return x, stft(x, DEFAULT_CONFIG)


def _softmax_masks(nb_frames: int, nb_stems: int = 4, seed: int = 1) -> np.ndarray:
    logits = np.random.default_rng(seed).standard_normal((nb_frames, nb_stems, 2, DEFAULT_CONFIG.nb_bins))
    masks = np.exp(logits)
    return (masks / masks.sum(axis=1, keepdims=True)).astype(np.float32)


def test_masked_stems_sum_back_to_the_mixture_in_time() -> None:
    x, frames = _mixture_frames()
    masks = _softmax_masks(frames.shape[0])
    stems = apply_masks(frames, masks)
    assert stems.shape == (frames.shape[0], 4, 2, DEFAULT_CONFIG.nb_bins) and stems.dtype == np.complex64
    np.testing.assert_allclose(stems.sum(axis=1), frames, rtol=0, atol=1e-4)
    waveforms = [istft(np.ascontiguousarray(stems[:, j]), DEFAULT_CONFIG) for j in range(4)]
    latency = DEFAULT_CONFIG.latency_samples
    total = np.sum(waveforms, axis=0)
    assert np.abs(total[latency:] - x[: total.shape[0] - latency]).max() < 1e-5


def test_masks_keep_the_mixture_phase_and_out_is_filled_in_place() -> None:
    _, frames = _mixture_frames(seed=2)
    masks = _softmax_masks(frames.shape[0], seed=3)
    out = np.empty(masks.shape, np.complex64)
    result = apply_masks(frames, masks, out=out)
    assert result is out
    np.testing.assert_allclose(out, masks * frames[:, None], rtol=1e-6, atol=1e-6)
    phase_error = np.angle(out * np.conj(frames[:, None]))  # zero where the mixture's phase carried over
    assert np.abs(phase_error[np.abs(out) > 1e-3]).max() < 1e-3


def test_stems_from_magnitudes_take_the_mixture_phase() -> None:
    _, frames = _mixture_frames(seed=4)
    frames[0, 0, :10] = 0  # silent bins: phase 0, no NaN
    magnitudes = np.abs(frames)[:, None] * np.array([0.1, 0.2, 0.3, 0.4], np.float32)[None, :, None, None]
    stems = stems_from_magnitudes(magnitudes.astype(np.float32), frames)
    assert stems.dtype == np.complex64 and np.isfinite(stems).all()
    np.testing.assert_allclose(stems.sum(axis=1), frames, rtol=0, atol=1e-4)


def test_bad_shapes_and_dtypes_name_expected_and_received() -> None:
    _, frames = _mixture_frames(4096)
    nb_frames = frames.shape[0]
    expected = rf"masks of shape \({nb_frames}, nb_stems, 2, 1025\) .*got \(8, 4, 2, 1024\)"
    with pytest.raises(ValueError, match=expected):
        apply_masks(frames, np.zeros((8, 4, 2, 1024), np.float32))
    with pytest.raises(ValueError, match=r"got \(8, 2, 1025\)"):
        apply_masks(frames, np.zeros((8, 2, 1025), np.float32))
    with pytest.raises(ValueError, match="real float masks .* got dtype complex64"):
        apply_masks(frames, np.zeros((nb_frames, 4, 2, 1025), np.complex64))
    expected = r"complex mix_frames of shape \(nb_frames, nb_channels, nb_bins\), got \(8, 2, 1025\) dtype"
    with pytest.raises(ValueError, match=expected):
        apply_masks(np.zeros((8, 2, 1025), np.float32), np.zeros((8, 4, 2, 1025), np.float32))
    with pytest.raises(ValueError, match=r"expected out as complex64 \(8, 4, 2, 1025\)"):
        apply_masks(frames[:8], np.zeros((8, 4, 2, 1025), np.float32), out=np.zeros((8, 4, 2, 1025)))
    with pytest.raises(ValueError, match=r"stem_mags of shape"):
        stems_from_magnitudes(np.zeros((nb_frames, 4, 1, 1025), np.float32), frames)
