"""Separation quality in dB. Every function takes `reference, estimate` of shape `(nb_samples, nb_channels)`.

- `sdr`: the 2021 Music Demixing Challenge's SDR over the whole track and all channels,
  `10 log10 (sum s^2 + eps) / (sum (s - s_hat)^2 + eps)`, eps = 1e-7. No projection, no allowed distortion
  filter: a gain error counts as error (unlike BSSEval's SDR).
- `framewise_sdr_median`: BSSEval-v4-style aggregation (SiSEC 2018/museval): one-second windows with a
  one-second hop (only whole windows, as museval), the same plain SDR per window, windows whose reference is
  silent skipped, median over the rest; NaN if no window counts. (museval's per-window SDR also allows a
  512-tap distortion filter; ours is the challenge's formula, so our two figures compare with each other.)
- `si_sdr`: scale-invariant SDR (Le Roux et al. 2019) with one scale over all channels, means removed.
Inputs are converted to float64 before summing.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-7
SAMPLE_RATE = 44100


def _pair(reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    for name, x in (("reference", reference), ("estimate", estimate)):
        if not isinstance(x, np.ndarray) or x.ndim != 2:
            received = getattr(x, "shape", type(x).__name__)
            raise ValueError(f"expected {name} of shape (nb_samples, nb_channels), got {received}")
        if x.dtype.kind not in "fiu":
            raise ValueError(f"expected real {name} of shape (nb_samples, nb_channels), got dtype {x.dtype}")
    if reference.shape != estimate.shape:
        raise ValueError(f"expected estimate of shape {reference.shape} (as reference), got {estimate.shape}")
    return reference.astype(np.float64), estimate.astype(np.float64)


def sdr(reference: np.ndarray, estimate: np.ndarray, eps: float = EPS) -> float:
    """Whole-track SDR in dB over all samples and channels (MDX 2021)."""
    reference, estimate = _pair(reference, estimate)
    signal = np.sum(reference**2)
    error = np.sum((reference - estimate) ** 2)
    return float(10.0 * np.log10((signal + eps) / (error + eps)))


def framewise_sdr(
    reference: np.ndarray, estimate: np.ndarray, sample_rate: int = SAMPLE_RATE, seconds: float = 1.0
) -> np.ndarray:
    """float64 `(nb_windows,)` SDR in dB per whole window; NaN where the reference is silent."""
    reference, estimate = _pair(reference, estimate)
    window = int(round(seconds * sample_rate))
    if window <= 0:
        raise ValueError(f"window of {seconds} s at {sample_rate} Hz holds no sample")
    nb_windows = reference.shape[0] // window
    shape = (nb_windows, window * reference.shape[1])  # each row: one window, all channels
    ref = reference[: nb_windows * window].reshape(shape)
    est = estimate[: nb_windows * window].reshape(shape)
    signal = np.sum(ref**2, axis=1)
    error = np.sum((ref - est) ** 2, axis=1)
    scores = 10.0 * np.log10((signal + EPS) / (error + EPS))
    scores[signal == 0.0] = np.nan
    return scores


def framewise_sdr_median(
    reference: np.ndarray, estimate: np.ndarray, sample_rate: int = SAMPLE_RATE, seconds: float = 1.0
) -> float:
    """Median of `framewise_sdr` over windows with a non-silent reference; NaN if there are none."""
    scores = framewise_sdr(reference, estimate, sample_rate, seconds)
    scores = scores[np.isfinite(scores)]
    return float(np.median(scores)) if scores.size else float("nan")


def si_sdr(reference: np.ndarray, estimate: np.ndarray, eps: float = EPS) -> float:
    """Scale-invariant SDR in dB: the estimate is compared with its best-fitting scaled reference."""
    reference, estimate = _pair(reference, estimate)
    reference = reference - reference.mean(axis=0)
    estimate = estimate - estimate.mean(axis=0)
    scale = (np.sum(reference * estimate) + eps) / (np.sum(reference**2) + eps)
    target = scale * reference
    return float(10.0 * np.log10((np.sum(target**2) + eps) / (np.sum((target - estimate) ** 2) + eps)))
