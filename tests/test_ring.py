"""PositionalRing against a dict of positions (hypothesis state machine), and across two real threads."""

from __future__ import annotations

import threading
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from dsp.ring import PositionalRing

CAPACITY = 16  # small, so random sizes and positions hit wrap-around and overwriting often
NB_CHANNELS = 2


def frames_for(start: int, n: int) -> np.ndarray:
    """Position p holds (p, -p): any sample read back says where it came from."""
    values = np.arange(start, start + n, dtype=np.float32)
    return np.stack([values, -values], axis=1)


class RingMatchesDict(RuleBasedStateMachine):
    """Every read gives what a dict {position: frame} of the positions written and still held gives."""

    def __init__(self) -> None:
        super().__init__()
        self.ring = PositionalRing(CAPACITY, NB_CHANNELS)
        self.reference: dict[int, tuple[float, float]] = {}

    def _held(self, position: int) -> bool:
        return self.ring.oldest() <= position < self.ring.written and position in self.reference

    @rule(size=st.integers(0, CAPACITY))
    def write(self, size: int) -> None:
        start = self.ring.written
        self.ring.write(frames_for(start, size))
        self.reference.update({start + i: (float(start + i), -float(start + i)) for i in range(size)})

    @rule(gap=st.integers(1, 2 * CAPACITY), size=st.integers(1, CAPACITY))
    def write_ahead(self, gap: int, size: int) -> None:
        """A writer that skips positions (the stem ring after a resync): the gap holds stale samples."""
        start = self.ring.written + gap
        self.ring.write_at(start, frames_for(start, size))
        self.reference.update({start + i: (float(start + i), -float(start + i)) for i in range(size)})

    @precondition(lambda self: self.ring.written > 0)
    @rule(back=st.integers(1, CAPACITY), size=st.integers(0, CAPACITY))
    def read_into(self, back: int, size: int) -> None:
        position = max(self.ring.oldest(), self.ring.written - back)
        size = min(size, self.ring.written - position)
        out = np.full((size, NB_CHANNELS), np.nan, dtype=np.float32)
        self.ring.read_into(position, out)
        for i in range(size):
            if self._held(position + i):
                assert tuple(out[i]) == self.reference[position + i], (position + i, out[i])

    @rule(offset=st.integers(-CAPACITY, 2 * CAPACITY), size=st.integers(0, CAPACITY), end=st.integers(0, 80))
    def read_clipped(self, offset: int, size: int, end: int) -> None:
        position = self.ring.oldest() + offset
        out = np.full((size, NB_CHANNELS), np.nan, dtype=np.float32)
        missing = self.ring.read_clipped(position, out, end)
        limit = min(end, self.ring.written)
        for i in range(size):
            p = position + i
            if p < 0 or p >= limit:
                assert tuple(out[i]) == (0.0, 0.0), (p, out[i])  # outside: silence
            elif self._held(p):
                assert tuple(out[i]) == self.reference[p], (p, out[i])
        assert missing == max(0, min(position + size, end) - max(self.ring.written, position, 0))

    @invariant()
    def oldest_follows_written(self) -> None:
        assert self.ring.oldest() == max(0, self.ring.written - CAPACITY)


TestRingMatchesDict = RingMatchesDict.TestCase
TestRingMatchesDict.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


def test_two_threads_move_a_long_ramp_in_order_without_loss() -> None:
    """The writer never overwrites what the reader has not read (it waits on the reader's published
    position, as the engine's threads do); the reader copies only below `written`. Every sample arrives,
    complete, in order."""
    ring = PositionalRing(64, NB_CHANNELS)
    total = 100_000
    ramp = frames_for(0, total)  # exact up to 2**24
    received = np.full((total, NB_CHANNELS), np.nan, dtype=np.float32)
    rng = np.random.default_rng(0)
    write_sizes = rng.integers(1, 64, size=total).tolist()
    read_sizes = rng.integers(1, 100, size=total).tolist()
    read_position = 0  # published by the reader only

    def produce() -> None:
        i = 0
        while ring.written < total:
            size = min(write_sizes[i % len(write_sizes)], total - ring.written)
            if ring.written + size - read_position > ring.capacity:
                time.sleep(0)  # full: hand the GIL to the reader instead of spinning a whole switch interval
                continue
            ring.write(ramp[ring.written:ring.written + size])
            i += 1

    producer = threading.Thread(target=produce)
    producer.start()
    i = 0
    while read_position < total:
        size = min(read_sizes[i % len(read_sizes)], ring.written - read_position)
        if size == 0:
            time.sleep(0)  # empty: let the writer run
            continue
        ring.read_into(read_position, received[read_position:read_position + size])
        read_position += size
        i += 1
    producer.join(timeout=60)
    assert not producer.is_alive()
    np.testing.assert_array_equal(received, ramp)


def test_write_and_read_allocate_no_sample_memory() -> None:
    """Steady-state transfers (wrapping around every few calls) allocate only numpy view objects, never a
    buffer: one 4096 x 2 float32 copy would be 32 KiB."""
    ring = PositionalRing(16384, 2)
    block = np.ones((4096, 2), np.float32)
    out = np.empty((4096, 2), np.float32)
    for _ in range(8):  # warm up (first-call caches)
        ring.write(block)
        ring.read_clipped(ring.written - 4096, out, ring.written)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in range(200):
            ring.write(block[:3000])  # 3000 does not divide 16384: every wrap position occurs
            ring.read_into(ring.written - 3000, out[:3000])
            ring.read_clipped(ring.written - 2000, out[:3000], ring.written + 500)  # a clipped end
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert peak < 4096, f"ring transfers allocated {peak} bytes at peak"


@pytest.mark.parametrize("capacity", [0, 3, 100, -8])
def test_capacity_must_be_a_power_of_two(capacity: int) -> None:
    with pytest.raises(ValueError, match=f"power of two, got {capacity}"):
        PositionalRing(capacity, 2)
