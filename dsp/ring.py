"""Single-producer / single-consumer ring buffer for multichannel float32 audio.

One thread writes (`write`), one other thread reads (`read_into`, `skip`); `available()` and `space()` may be
called from either. Nothing allocates after construction: a transfer is at most two slice copies (before and
after the wrap-around) with `np.copyto`, so `read_into` is safe in an audio callback.

Why this is safe without a lock under CPython:
- `_write_count` is written only by the producer and `_read_count` only by the consumer. Each is a Python int,
  and rebinding an attribute is atomic under the GIL, so the other thread sees either the old or the new
  value, never a torn one.
- The producer copies the samples first and publishes `_write_count` after the copy; the consumer reads
  `_write_count` before touching the samples. So the consumer never reads a slot that is not yet written.
  Symmetrically the consumer releases slots (publishes `_read_count`) only after its copy, so the producer
  never overwrites samples that are still being read.
- The counts grow without bound (Python ints do not overflow); the slot is `count & mask`. This tells a full
  ring (`write - read == capacity`) from an empty one (`write == read`) with no wasted slot.
"""

from __future__ import annotations

import numpy as np


class AudioRing:
    """`capacity` frames (a power of two) of `nb_channels` float32 samples, kept as `(capacity, nb_channels)`.

    Writes never block or overwrite: the producer is told how many frames fitted (`write` returns it)."""

    def __init__(self, capacity: int, nb_channels: int) -> None:
        if capacity <= 0 or capacity & (capacity - 1):
            raise ValueError(f"ring capacity must be a power of two, got {capacity}")
        if nb_channels <= 0:
            raise ValueError(f"ring needs at least one channel, got {nb_channels}")
        self.capacity = capacity
        self.nb_channels = nb_channels
        self._mask = capacity - 1
        self._buffer = np.zeros((capacity, nb_channels), dtype=np.float32)
        self._write_count = 0  # written by the producer only
        self._read_count = 0  # written by the consumer only

    def available(self) -> int:
        """Frames ready to read."""
        return self._write_count - self._read_count

    def space(self) -> int:
        """Frames that can be written now."""
        return self.capacity - (self._write_count - self._read_count)

    def write(self, x: np.ndarray) -> int:
        """Producer: copy up to `space()` frames of `x (nb_samples, nb_channels)`; returns how many fitted."""
        self._check(x, "x")
        write_count = self._write_count
        n = min(x.shape[0], self.capacity - (write_count - self._read_count))
        if n > 0:
            start = write_count & self._mask
            first = min(n, self.capacity - start)
            np.copyto(self._buffer[start : start + first], x[:first], casting="same_kind")
            if n > first:
                np.copyto(self._buffer[: n - first], x[first:n], casting="same_kind")
            self._write_count = write_count + n  # publish after the copy
        return n

    def read_into(self, out: np.ndarray) -> int:
        """Consumer: fill `out[:k]` with the oldest `k = min(len(out), available())` frames; returns `k`."""
        self._check(out, "out")
        read_count = self._read_count
        n = min(out.shape[0], self._write_count - read_count)
        if n > 0:
            start = read_count & self._mask
            first = min(n, self.capacity - start)
            np.copyto(out[:first], self._buffer[start : start + first], casting="same_kind")
            if n > first:
                np.copyto(out[first:n], self._buffer[: n - first], casting="same_kind")
            self._read_count = read_count + n  # release the slots after the copy
        return n

    def skip(self, n: int) -> int:
        """Consumer: drop up to `n` of the oldest frames without copying; returns how many it dropped."""
        n = max(0, min(n, self._write_count - self._read_count))
        self._read_count += n
        return n

    def _check(self, x: np.ndarray, name: str) -> None:
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != self.nb_channels:
            shape = getattr(x, "shape", type(x).__name__)
            raise ValueError(f"expected {name} of shape (nb_samples, {self.nb_channels}), got {shape}")
        if x.dtype.kind != "f":
            expected = f"float32 (nb_samples, {self.nb_channels})"
            raise ValueError(f"expected {name} as {expected}, got dtype {x.dtype}")
