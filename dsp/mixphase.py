"""Mix-phase reconstruction: stems as masks (or magnitudes) over the mixture's STFT, with the mixture's phase.

With masks that sum to one over the stems in every bin, the stems' spectra sum to the mixture's spectrum, so
after the (linear) ISTFT the stems sum back to the mixture: unity gains play the original track.
"""

from __future__ import annotations

import numpy as np


def _shape_of(x: object) -> object:
    return getattr(x, "shape", type(x).__name__)


def _check_mix(mix_frames: np.ndarray) -> tuple[int, int, int]:
    if not isinstance(mix_frames, np.ndarray) or mix_frames.ndim != 3 or mix_frames.dtype.kind != "c":
        detail = f"dtype {mix_frames.dtype}" if isinstance(mix_frames, np.ndarray) else ""
        raise ValueError(
            "expected complex mix_frames of shape (nb_frames, nb_channels, nb_bins), "
            f"got {_shape_of(mix_frames)} {detail}".rstrip()
        )
    return mix_frames.shape


def _check_stem_array(name: str, values: np.ndarray, mix_shape: tuple[int, int, int]) -> None:
    nb_frames, nb_channels, nb_bins = mix_shape
    expected = f"({nb_frames}, nb_stems, {nb_channels}, {nb_bins})"
    ok = isinstance(values, np.ndarray) and values.ndim == 4
    if not ok or (values.shape[0], values.shape[2], values.shape[3]) != mix_shape:
        raise ValueError(f"expected {name} of shape {expected} to match the mixture, got {_shape_of(values)}")
    if values.dtype.kind != "f":
        raise ValueError(f"expected real float {name} of shape {expected}, got dtype {values.dtype}")


def apply_masks(mix_frames: np.ndarray, masks: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Stem spectra = masks x mixture spectrum (the mixture's phase carries over unchanged).

    `mix_frames`: complex `(nb_frames, nb_channels, nb_bins)`; `masks`: float `(nb_frames, nb_stems,
    nb_channels, nb_bins)` -> complex64 `(nb_frames, nb_stems, nb_channels, nb_bins)`, written into `out` when
    given (preallocated, complex64, that shape) so a streaming caller allocates nothing.
    """
    mix_shape = _check_mix(mix_frames)
    _check_stem_array("masks", masks, mix_shape)
    if out is None:
        out = np.empty(masks.shape, dtype=np.complex64)
    elif out.shape != masks.shape or out.dtype != np.complex64:
        raise ValueError(f"expected out as complex64 {masks.shape}, got {out.dtype} {out.shape}")
    np.multiply(masks, mix_frames[:, None], out=out)
    return out


def stems_from_magnitudes(stem_mags: np.ndarray, mix_frames: np.ndarray) -> np.ndarray:
    """Stem magnitudes with the mixture's phase: `(nb_frames, nb_stems, nb_channels, nb_bins)` float ->
    complex64 of that shape. Bins where the mixture is exactly zero get phase 0."""
    mix_shape = _check_mix(mix_frames)
    _check_stem_array("stem_mags", stem_mags, mix_shape)
    magnitude = np.abs(mix_frames)
    # unit phasor mix / |mix|, and 1 where |mix| == 0 (no phase to take)
    phasor = np.ones(mix_frames.shape, np.complex128)
    np.divide(mix_frames, magnitude, out=phasor, where=magnitude > 0)
    return (stem_mags * phasor[:, None]).astype(np.complex64)
