"""Causal STFT / ISTFT: the one definition of window, hop and scaling that the model, engine and tests share.

Convention (the torch form in `dsp/stft_torch.py` computes the same numbers):
- analysis window `w` = periodic Hann of length `n_fft`; spectra are the unnormalised `numpy.fft.rfft`.
- The signal is left-padded with `latency_samples = n_fft - hop` zeros; frame k is
  `rfft(w * padded[k*hop : k*hop + n_fft])`, so frame k ends at input sample `(k+1)*hop - 1` (causal: no
  look-ahead, no centre/reflect padding) and `n` samples give `n // hop` frames.
- synthesis window = `w / C` where `C = sum_r w[i + r*hop]**2` is the same for every `i` (checked in
  `StftConfig`), so overlap-adding `synthesis * irfft(frame)` rebuilds the padded signal exactly: the streamed
  ISTFT output equals the input delayed by exactly `latency_samples` samples (the algorithmic latency).

Streaming forms accept any number of new samples (0, 1, 8193, ...) and return what became complete. Arithmetic
is float64 inside (so reconstruction holds to ~1e-7 relative); inputs/outputs are float32 / complex64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SAMPLE_RATE = 44100


@dataclass(frozen=True)
class StftConfig:
    """Frame length `n_fft` and hop `hop` in samples; `hop` must divide `n_fft` with at least 3 frames
    overlapping (periodic Hann squared overlap-adds to a constant only then)."""

    n_fft: int = 2048
    hop: int = 512

    def __post_init__(self) -> None:
        if self.n_fft <= 0 or self.hop <= 0 or self.n_fft % self.hop != 0:
            raise ValueError(f"{self}: hop must be a positive divisor of n_fft")
        squared_sum = _overlapped_squares(self._window64(), self.hop)
        if not np.allclose(squared_sum, squared_sum[0], rtol=1e-9, atol=0.0) or squared_sum[0] <= 0:
            raise ValueError(
                f"{self}: the squared Hann window does not overlap-add to a constant at this hop "
                f"(use hop <= n_fft / 3, e.g. n_fft // 4)"
            )

    @property
    def nb_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def latency_samples(self) -> int:
        """Algorithmic latency of STFT -> ISTFT in samples: output[t] = input[t - latency_samples]."""
        return self.n_fft - self.hop

    def latency_seconds(self, sample_rate: int = SAMPLE_RATE) -> float:
        return self.latency_samples / sample_rate

    def _window64(self) -> np.ndarray:
        n = np.arange(self.n_fft)
        return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / self.n_fft)  # periodic Hann

    def analysis_window(self) -> np.ndarray:
        """float64 `(n_fft,)` periodic Hann."""
        return self._window64()

    def synthesis_window(self) -> np.ndarray:
        """float64 `(n_fft,)`: analysis window divided by the overlap-added squared window (a constant)."""
        window = self._window64()
        return window / _overlapped_squares(window, self.hop)[0]


def _overlapped_squares(window: np.ndarray, hop: int) -> np.ndarray:
    """`(hop,)`: sum over r of window[i + r*hop]**2 for i in [0, hop)."""
    return (window.reshape(-1, hop) ** 2).sum(axis=0)


# The model's configuration: 2048/512 at 44.1 kHz = 1536 samples = 34.8 ms of algorithmic latency.
DEFAULT_CONFIG = StftConfig()
# A configuration ready for <= 12 ms budgets: 512/128 -> 384 samples = 8.7 ms at 44.1 kHz.
LOW_LATENCY_CONFIG = StftConfig(n_fft=512, hop=128)


def _check_signal(x: np.ndarray, nb_channels: int | None) -> None:
    """`nb_channels=None` accepts any channel count."""
    expected = f"(nb_samples, {'nb_channels' if nb_channels is None else nb_channels})"
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != (nb_channels or x.shape[1]):
        shape = getattr(x, "shape", type(x).__name__)
        raise ValueError(f"expected a signal of shape {expected}, got {shape}")
    if x.dtype.kind != "f":
        raise ValueError(f"expected a float32 signal of shape {expected}, got dtype {x.dtype}")


def _check_frames(frames: np.ndarray, nb_channels: int | None, nb_bins: int) -> None:
    """`nb_channels=None` accepts any channel count."""
    expected = f"(nb_frames, {'nb_channels' if nb_channels is None else nb_channels}, {nb_bins})"
    ok_shape = isinstance(frames, np.ndarray) and frames.ndim == 3
    if not ok_shape or frames.shape[1:] != (nb_channels or frames.shape[1], nb_bins):
        shape = getattr(frames, "shape", type(frames).__name__)
        raise ValueError(f"expected frames of shape {expected}, got {shape}")
    if frames.dtype.kind != "c":
        raise ValueError(f"expected complex64 frames of shape {expected}, got dtype {frames.dtype}")


class StreamingStft:
    """Frames completed so far: `process(x float (nb_samples, nb_channels)) -> complex64 (nb_frames,
    nb_channels, nb_bins)`. Keeps the last `latency_samples` plus the unfinished hop between calls."""

    def __init__(self, config: StftConfig = DEFAULT_CONFIG, nb_channels: int = 2) -> None:
        self.config = config
        self.nb_channels = nb_channels
        self._window = config.analysis_window()
        # Pending input: the last `latency_samples` samples, then `_fill` (< hop) samples of the next frame.
        self._pending = np.zeros((config.n_fft, nb_channels), dtype=np.float64)
        self._fill = 0
        self._work = np.zeros((2 * config.n_fft, nb_channels), dtype=np.float64)  # grows to the largest block
        # The one-hop path's windowed frame, channels first as the general path's segments are.
        self._windowed = np.zeros((nb_channels, config.n_fft), dtype=np.float64)
        self.reset()

    def reset(self) -> None:
        """Back to silence before the first sample (the left padding); configuration kept."""
        self._pending.fill(0.0)
        self._fill = 0

    def process(self, x: np.ndarray) -> np.ndarray:
        _check_signal(x, self.nb_channels)
        hop, history = self.config.hop, self.config.latency_samples
        nb_new = x.shape[0]
        if nb_new == hop and self._fill == 0:
            return self.process_hop(x)
        start = history + self._fill  # valid samples in _pending
        nb_frames = (self._fill + nb_new) // hop
        if nb_frames == 0:
            self._pending[start : start + nb_new] = x
            self._fill += nb_new
            return np.zeros((0, self.nb_channels, self.config.nb_bins), dtype=np.complex64)
        total = start + nb_new
        if self._work.shape[0] < total:
            self._work = np.zeros((total, self.nb_channels), dtype=np.float64)
        work = self._work[:total]
        work[:start] = self._pending[:start]
        work[start:] = x
        # (nb_frames, nb_channels, n_fft) views into `work`, one per hop: no copy until the windowing.
        segments = sliding_window_view(work, self.config.n_fft, axis=0)[: nb_frames * hop : hop]
        frames = np.fft.rfft(segments * self._window, axis=-1).astype(np.complex64)
        consumed = nb_frames * hop
        self._pending[: total - consumed] = work[consumed:]
        self._fill = total - consumed - history
        return frames

    @property
    def on_hop_boundary(self) -> bool:
        """True when the next `hop` samples complete exactly one frame (no unfinished hop pending)."""
        return self._fill == 0

    def process_hop(self, x: np.ndarray) -> np.ndarray:
        """`process` for exactly `hop` samples on a hop boundary (live input, one hop per call), unchecked:
        the same numbers as the general path (the same float64 products and rfft), with no sliding window
        and no work copy. -> complex64 `(1, nb_channels, nb_bins)`."""
        history = self.config.latency_samples
        pending = self._pending  # (n_fft, nb_channels): `history` samples, then room for this hop
        pending[history:] = x
        np.multiply(pending.T, self._window, out=self._windowed)
        frame = np.fft.rfft(self._windowed, axis=-1).astype(np.complex64)[None]
        pending[:history] = pending[self.config.hop:]  # overlapping rows: numpy copies via a buffer
        return frame


class StreamingIstft:
    """Samples completed so far: `process(frames complex (nb_frames, nb_channels, nb_bins)) -> float32
    (nb_frames * hop, nb_channels)`, the input of the matching StreamingStft delayed by `latency_samples`."""

    def __init__(self, config: StftConfig = DEFAULT_CONFIG, nb_channels: int = 2) -> None:
        self.config = config
        self.nb_channels = nb_channels
        self._window = config.synthesis_window()
        # Overlap tail: the part of past frames that lies after the samples already returned.
        self._tail = np.zeros((config.latency_samples, nb_channels), dtype=np.float64)
        self._work = np.zeros((2 * config.n_fft, nb_channels), dtype=np.float64)  # grows to the largest block
        self._segment = np.zeros((nb_channels, config.n_fft), dtype=np.float64)  # the one-frame path's
        self.reset()

    def reset(self) -> None:
        self._tail.fill(0.0)

    def process(self, frames: np.ndarray) -> np.ndarray:
        _check_frames(frames, self.nb_channels, self.config.nb_bins)
        hop, n_fft, history = self.config.hop, self.config.n_fft, self.config.latency_samples
        nb_frames = frames.shape[0]
        nb_out = nb_frames * hop
        if nb_frames == 0:
            return np.zeros((0, self.nb_channels), dtype=np.float32)
        if nb_frames == 1:
            return self.process_frame(frames[0])
        # (nb_frames, nb_channels, n_fft) -> (nb_frames, n_fft, nb_channels) windowed time segments.
        segments = (np.fft.irfft(frames, n=n_fft, axis=-1) * self._window).transpose(0, 2, 1)
        total = nb_out + history
        if self._work.shape[0] < total:
            self._work = np.zeros((total, self.nb_channels), dtype=np.float64)
        work = self._work[:total]
        work.fill(0.0)
        work[:history] = self._tail
        # Overlap-add one hop-sized slice of all frames at a time: n_fft // hop vector adds, no frame loop.
        for r in range(n_fft // hop):
            part = segments[:, r * hop : (r + 1) * hop, :].reshape(nb_out, self.nb_channels)
            work[r * hop : r * hop + nb_out] += part
        self._tail[:] = work[nb_out:]
        return work[:nb_out].astype(np.float32)

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        """`process` for one frame complex `(nb_channels, nb_bins)` (live input, one hop per call),
        unchecked: the same numbers as the general path (each output sample is the tail plus one windowed
        sample, added once), with no overlap-add loop. -> float32 `(hop, nb_channels)`."""
        hop, n_fft, history = self.config.hop, self.config.n_fft, self.config.latency_samples
        segment = self._segment  # (nb_channels, n_fft)
        np.multiply(np.fft.irfft(frame, n=n_fft, axis=-1), self._window, out=segment)
        work = self._work[:n_fft]
        work[:history] = self._tail
        work[history:] = 0.0
        work += segment.T
        self._tail[:] = work[hop:]
        return work[:hop].astype(np.float32)


def stft(x: np.ndarray, config: StftConfig = DEFAULT_CONFIG) -> np.ndarray:
    """Whole signal float `(nb_samples, nb_channels)` -> complex64 `(nb_samples // hop, nb_channels,
    nb_bins)`."""
    _check_signal(x, None)
    return StreamingStft(config, x.shape[1]).process(x)


def istft(frames: np.ndarray, config: StftConfig = DEFAULT_CONFIG) -> np.ndarray:
    """complex `(nb_frames, nb_channels, nb_bins)` -> float32 `(nb_frames * hop, nb_channels)`, delayed by
    `config.latency_samples` like the streaming form (drop the first `latency_samples` to align)."""
    _check_frames(frames, None, config.nb_bins)
    return StreamingIstft(config, frames.shape[1]).process(frames)
