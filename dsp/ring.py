"""The ring buffer of multichannel float32 audio, addressed by absolute sample positions: one writer thread,
readers that know which positions they want.

The engine's rings (source audio, separated stems, monitor) are all of this kind. Unlike a plain SPSC FIFO, a
reader can look at any position still held (`position >= written - capacity`), so two readers can share the
source audio (the audio callback reads the dry mix, the inference worker reads the model input) and a reader
that fell behind can jump ahead instead of draining stale audio. Who may overwrite what is decided by the
threads that use it (each reader publishes how far it has read, see `demixui/engine/session.py`); this class
only moves samples.

Why this is safe without a lock under CPython:
- `written` is an int attribute stored only by the writer, after the samples are in place; a plain attribute
  store is atomic under the GIL, so a reader sees the old or the new value, never a torn one, and a reader
  that reads `written` first and then copies positions below it always sees complete samples.
- Positions grow without bound (Python ints do not overflow); the slot is `position & mask`, so a reader can
  tell "not written yet" (>= written) from "overwritten" (< written - capacity) with no wasted slot.
- Copies are at most two slice assignments (before and after the wrap-around): no allocation beyond numpy
  views, so the audio callback may call `read_into` and `read_clipped`.
"""

from __future__ import annotations

import numpy as np


class PositionalRing:
    """`capacity` (a power of two) frames of `nb_channels` float32, addressed by absolute positions >= 0."""

    def __init__(self, capacity: int, nb_channels: int):
        if capacity <= 0 or capacity & (capacity - 1):
            raise ValueError(f"capacity must be a power of two, got {capacity}")
        self.capacity = capacity
        self.nb_channels = nb_channels
        self._mask = capacity - 1
        self._data = np.zeros((capacity, nb_channels), dtype=np.float32)
        # Frames [0, written) have been written; only the writer thread stores this (after the copy).
        self.written = 0

    def oldest(self) -> int:
        """The lowest position whose samples are still held."""
        return max(0, self.written - self.capacity)

    def write(self, frames: np.ndarray) -> None:
        """Append `frames` `(nb_frames, nb_channels)` at position `written` (writer thread only).

        The caller has checked that no reader still needs the `nb_frames` oldest positions it overwrites.
        """
        self.write_at(self.written, frames)

    def write_at(self, position: int, frames: np.ndarray) -> None:
        """Write `frames` at `position` (>= `written` - capacity) and publish `written = position + n`.

        A writer may skip ahead (position > written): the skipped positions hold stale samples, and the writer
        must tell its readers that they are not valid (the stem ring does so with its published span).
        """
        n = frames.shape[0]
        assert n <= self.capacity, (n, self.capacity)
        start = position & self._mask
        first = min(n, self.capacity - start)
        self._data[start:start + first] = frames[:first]
        if first < n:
            self._data[:n - first] = frames[first:]
        self.written = max(self.written, position + n)

    def read_into(self, position: int, out: np.ndarray) -> None:
        """Copy positions `[position, position + len(out))` into `out` (the caller checked they are held)."""
        n = out.shape[0]
        start = position & self._mask
        first = min(n, self.capacity - start)
        out[:first] = self._data[start:start + first]
        if first < n:
            out[first:] = self._data[:n - first]

    def read_clipped(self, position: int, out: np.ndarray, end: int) -> int:
        """Copy what is held of `[position, position + len(out))` below `end`; zeros elsewhere.

        Positions below 0 or at/after `min(end, written)` read as silence. Returns how many positions at or
        after `written` (but below `end`) were asked for: samples that should exist but have not arrived.
        """
        n = out.shape[0]
        lo = max(position, 0)
        hi = min(position + n, end, self.written)
        if hi <= lo:
            out[:] = 0.0
        else:
            if lo > position:
                out[:lo - position] = 0.0
            self.read_into(lo, out[lo - position:hi - position])
            if hi < position + n:
                out[hi - position:] = 0.0
        missing_hi = min(position + n, end)
        return max(0, missing_hi - max(self.written, lo))
