"""Crossfade overlap-add for models that process a signal in overlapping chunks.

A chunk model sees `chunk_size` samples at a time; consecutive chunks start `stride = chunk_size - overlap`
apart. Each chunk's output is weighted by a window that rises over its first `overlap` samples and falls
over its last `overlap` samples (raised cosine or linear), and the weighted chunks are summed and divided by
the sum of the weights. Where two chunks overlap the two ramps sum to one, so seams are crossfades rather
than clicks (the seed's DemixUI played each chunk end to end; see seeds/demucs-overlap-add-two-levels.txt).
The ramps are sampled at half-sample offsets so they never reach zero: the weight sum is positive at the
track's first and last samples too, and `overlap_add` checks that before dividing.

This is for offline, chunked models. The streaming model path uses the STFT's own overlap-add (dsp/stft.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RAMPS = ("raised_cosine", "linear")


@dataclass(frozen=True)
class ChunkLayout:
    """`chunk_size` and `overlap` in samples; `0 <= overlap <= chunk_size // 2` so only neighbours overlap."""

    chunk_size: int
    overlap: int
    ramp: str = "raised_cosine"

    def __post_init__(self) -> None:
        if self.chunk_size <= 0 or not 0 <= self.overlap <= self.chunk_size // 2:
            raise ValueError(f"{self}: need chunk_size > 0 and 0 <= overlap <= chunk_size // 2")
        if self.ramp not in RAMPS:
            raise ValueError(f"{self}: ramp must be one of {RAMPS}")

    @property
    def stride(self) -> int:
        return self.chunk_size - self.overlap

    def starts(self, nb_samples: int) -> np.ndarray:
        """int64 `(nb_chunks,)` first sample of each chunk; the chunks cover `[0, nb_samples)`."""
        if nb_samples <= 0:
            return np.zeros(0, dtype=np.int64)
        nb_chunks = 1 + max(0, -(-(nb_samples - self.chunk_size) // self.stride))  # ceil division
        return np.arange(nb_chunks, dtype=np.int64) * self.stride

    def weights(self) -> np.ndarray:
        """float64 `(chunk_size,)`: ramp up over `overlap` samples, 1 in the middle, ramp down at the end."""
        weights = np.ones(self.chunk_size)
        if self.overlap:
            position = (np.arange(self.overlap) + 0.5) / self.overlap  # in (0, 1), never 0 or 1
            up = np.sin(0.5 * np.pi * position) ** 2 if self.ramp == "raised_cosine" else position
            weights[: self.overlap] = up
            weights[-self.overlap :] = up[::-1]  # up[i] + up[overlap - 1 - i] == 1 for both ramps
        return weights


def split_chunks(x: np.ndarray, layout: ChunkLayout) -> np.ndarray:
    """`x (nb_samples, ...)` -> `(nb_chunks, chunk_size, ...)`, the last chunk zero-padded at its end."""
    if not isinstance(x, np.ndarray) or x.ndim < 1:
        received = getattr(x, "shape", type(x).__name__)
        raise ValueError(f"expected x of shape (nb_samples, ...), got {received}")
    starts = layout.starts(x.shape[0])
    chunks = np.zeros((len(starts), layout.chunk_size, *x.shape[1:]), dtype=x.dtype)
    for index, start in enumerate(starts):
        piece = x[start : start + layout.chunk_size]
        chunks[index, : piece.shape[0]] = piece
    return chunks


def overlap_add(chunks: np.ndarray, layout: ChunkLayout, nb_samples: int, eps: float = 1e-8) -> np.ndarray:
    """`(nb_chunks, chunk_size, ...)` model outputs, chunk i starting at `i * stride` -> `(nb_samples, ...)`
    in the chunks' dtype.

    Raises ValueError if the weights sum to `<= eps` anywhere in `[0, nb_samples)` (too few chunks to cover
    the signal) instead of dividing by zero.
    """
    if not isinstance(chunks, np.ndarray) or chunks.ndim < 2 or chunks.shape[1] != layout.chunk_size:
        received = getattr(chunks, "shape", type(chunks).__name__)
        raise ValueError(f"expected chunks of shape (nb_chunks, {layout.chunk_size}, ...), got {received}")
    nb_chunks = chunks.shape[0]
    weights = layout.weights()
    length = max(nb_samples, (nb_chunks - 1) * layout.stride + layout.chunk_size)
    total = np.zeros((length, *chunks.shape[2:]))
    weight_sum = np.zeros(length)
    broadcast = weights.reshape(-1, *([1] * (chunks.ndim - 2)))
    for index in range(nb_chunks):  # one vector op per chunk (chunks are thousands of samples long)
        start = index * layout.stride
        total[start : start + layout.chunk_size] += broadcast * chunks[index]
        weight_sum[start : start + layout.chunk_size] += weights
    weight_sum = weight_sum[:nb_samples]
    low = np.flatnonzero(weight_sum <= eps)
    if low.size:
        raise ValueError(
            f"crossfade weights sum to <= {eps} at {low.size} of {nb_samples} samples (first at {low[0]}): "
            f"{nb_chunks} chunks of {layout.chunk_size} every {layout.stride} do not cover the signal"
        )
    divisor = weight_sum.reshape(-1, *([1] * (chunks.ndim - 2)))
    return (total[:nb_samples] / divisor).astype(chunks.dtype)
