"""AudioRing against a plain Python list (hypothesis state machine), and across two real threads."""

from __future__ import annotations

import threading
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from dsp.ring import AudioRing

CAPACITY = 16  # small, so random sizes hit wrap-around, full and empty often
NB_CHANNELS = 2


class RingMatchesList(RuleBasedStateMachine):
    """Every operation gives what a list of frames gives; frame i holds the value (i, -i) on its channels."""

    def __init__(self) -> None:
        super().__init__()
        self.ring = AudioRing(CAPACITY, NB_CHANNELS)
        self.reference: list[tuple[float, float]] = []
        self.next_value = 0

    @rule(size=st.integers(0, 2 * CAPACITY + 3))
    def write(self, size: int) -> None:
        values = np.arange(self.next_value, self.next_value + size, dtype=np.float32)
        block = np.stack([values, -values], axis=1)
        expected = min(size, CAPACITY - len(self.reference))
        assert self.ring.write(block) == expected
        self.reference.extend((float(v), -float(v)) for v in values[:expected])
        self.next_value += expected

    @rule(size=st.integers(0, 2 * CAPACITY + 3))
    def read(self, size: int) -> None:
        out = np.full((size, NB_CHANNELS), np.nan, dtype=np.float32)
        expected = min(size, len(self.reference))
        assert self.ring.read_into(out) == expected
        assert out[:expected].tolist() == [list(frame) for frame in self.reference[:expected]]
        assert np.isnan(out[expected:]).all(), "read_into touched frames past the ones it returned"
        del self.reference[:expected]

    @rule(size=st.integers(0, CAPACITY + 3))
    def skip(self, size: int) -> None:
        expected = min(size, len(self.reference))
        assert self.ring.skip(size) == expected
        del self.reference[:expected]

    @invariant()
    def counts_match(self) -> None:
        assert self.ring.available() == len(self.reference)
        assert self.ring.space() == CAPACITY - len(self.reference)


TestRingMatchesList = RingMatchesList.TestCase
TestRingMatchesList.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


def test_two_threads_move_a_long_ramp_in_order_without_loss() -> None:
    ring = AudioRing(64, NB_CHANNELS)
    total = 100_000
    ramp = np.stack([np.arange(total), -np.arange(total)], axis=1).astype(np.float32)  # exact up to 2**24
    received = np.full((total, NB_CHANNELS), np.nan, dtype=np.float32)
    rng = np.random.default_rng(0)
    write_sizes = rng.integers(1, 100, size=total).tolist()
    read_sizes = rng.integers(1, 100, size=total).tolist()

    def produce() -> None:
        position, i = 0, 0
        while position < total:
            size = write_sizes[i % len(write_sizes)]
            written = ring.write(ramp[position : position + size])
            if written == 0:
                time.sleep(0)  # full: hand the GIL to the reader instead of spinning a whole switch interval
            position += written
            i += 1

    producer = threading.Thread(target=produce)
    producer.start()
    position, i = 0, 0
    while position < total:
        size = read_sizes[i % len(read_sizes)]
        got = ring.read_into(received[position : position + size])
        if got == 0:
            time.sleep(0)  # empty: let the writer run
        position += got
        i += 1
    producer.join(timeout=60)
    assert not producer.is_alive()
    np.testing.assert_array_equal(received, ramp)
    assert ring.available() == 0 and ring.space() == 64


def test_write_and_read_allocate_no_sample_memory() -> None:
    """Steady-state transfers (wrapping around every few calls) allocate only numpy view objects, never a
    buffer: one 4096 x 2 float32 copy would be 32 KiB."""
    ring = AudioRing(16384, 2)
    block = np.ones((4096, 2), np.float32)
    out = np.empty((4096, 2), np.float32)
    for _ in range(8):  # warm up (first-call caches)
        ring.write(block)
        ring.read_into(out)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in range(200):
            assert ring.write(block[:3000]) == 3000  # 3000 does not divide 16384: every wrap position occurs
            assert ring.read_into(out[:3000]) == 3000
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert peak < 4096, f"ring transfers allocated {peak} bytes at peak"


@pytest.mark.parametrize("capacity", [0, 3, 100, -8])
def test_capacity_must_be_a_power_of_two(capacity: int) -> None:
    with pytest.raises(ValueError, match=f"power of two, got {capacity}"):
        AudioRing(capacity, 2)


def test_bad_shapes_and_dtypes_name_expected_and_received() -> None:
    ring = AudioRing(8, 2)
    with pytest.raises(ValueError, match=r"expected x of shape \(nb_samples, 2\), got \(4, 1\)"):
        ring.write(np.zeros((4, 1), np.float32))
    with pytest.raises(ValueError, match=r"expected out of shape \(nb_samples, 2\), got \(4,\)"):
        ring.read_into(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"\(nb_samples, 2\), got dtype int32"):
        ring.write(np.zeros((4, 2), np.int32))
