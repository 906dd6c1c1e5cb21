"""The live path's slack, sized from the model's hop, the device block and the worker's time, and the worker's
wake-up on input.

Live latency is the model's L (n_fft - hop) + the live buffer B (input written minus the play position at
each output block) + the devices' own. B starts from the least lead with which every block's stems can exist:

- The worker separates whole hops, and the stems at output position p separate source sample p - L, so the
  stems up to x exist once the source reaches x (the worker's first hop starts at source position 0).
- The callback needs the stems of its block [c, c + n) (no look-ahead beyond it on the live path: a ramp's
  worth held back would cost 5 ms; on a shortfall the callback fades to the dry mix within the stems it
  holds, and at unity gains the two are the same samples).
- With a lead B the source has reached c + B, of which the whole hops end at floor_hop(c + B). The block grid
  (multiples of n) and the hop grid both start at position 0, so c + B runs over multiples of g = gcd(n, hop)
  and the rounding loses up to hop - g: every block's stems exist iff B >= n + hop - g.
- B is whole blocks (input arrives in blocks), so that rounded up to a multiple of n.

Examples (hop 128, the live model): n 64 -> 128, n 128 -> 128, n 256 -> 256; hop 512 (the default model):
n 64 -> 512, n 256 -> 512, n 1024 -> 1024. That is the least lead (`least_buffer`); the live buffer adds the
worker's time to it. The input block that completes a hop arrives one device period before the output block
that first needs it (PortAudio hands a period's input to the app after capturing it, and the null backend does
the same), so at the least lead the worker has one period for the hop (at block 64 and hop 128, for every
other hop), and each block more gives it a period more. What the worker needs is time, not blocks: its
compute is a fraction of the hop (the live model: p99 20 % of 2.9 ms), but its wall clock from the input to
the stems also holds its wake-up and every wait for a CPU or the GIL, a few milliseconds on a loaded
machine whatever the block size (2 cores under load 4, block 128, worker at SCHED_FIFO 1: per minute about
120 hops finished more than one period after their input, 6 more than two, 1 six periods late). So the live
buffer adds the least whole blocks (`compute_blocks`) that give the worker `COMPUTE_SECONDS` from a hop's
last input: the same time at every block size, which is more blocks at a smaller block (the live model:
n 64 -> 128 + 4 blocks, n 128 -> 128 + 2 blocks, n 256 -> 256 + 1 block).

Where even that is too little (a stall longer than the budget), the stems of some block come late: the dry
mix stands in (an app underrun), and the callback then grows the buffer by one block (faded out, held for a
block, faded in), up to `live_buffer_max`, so that a machine that cannot keep up pays one block more of
latency rather than an underrun every few blocks. After `SHRINK_AFTER_SECONDS` without a late block it
gives a block back (a jump ahead, faded), down to the live buffer, so a passing stall costs no latency for
good, and a machine at the edge pays at most one underrun per that time to find its least buffer again.

The worker waits for input on a pipe the input callback writes a byte to (`Wakeup`), as Ardour's process
thread wakes its butler: a non-blocking write of one byte from the real-time thread, no lock, no GIL. So the
worker starts a hop the moment its last samples arrive instead of at its next poll.
"""

from __future__ import annotations

import ctypes
import math
import os
import select
import threading

# The least time the worker gets for a hop, from its last input to the output block that needs it: the live
# buffer adds whole blocks until it is reached (see the docstring). 6 ms: three periods at block 128.
COMPUTE_SECONDS = 0.006
GROWTH_BLOCKS = 4  # after underruns the live buffer grows a block at a time, by at most this (or a hop)
DRIFT_WINDOW_SECONDS = 0.25  # the smallest live lead over this long decides a drift jump (see playback.py)
SHRINK_AFTER_SECONDS = 10.0  # a grown live buffer gives a block back after this long without a late block


def round_up(value: int, step: int) -> int:
    """`value` rounded up to whole `step`s (samples to whole hops or blocks)."""
    return -(-value // step) * step


def stem_floor(blocksize: int, hop: int) -> int:
    """The least live lead (samples) with which every block's stems can exist (module docstring)."""
    assert blocksize > 0 and hop > 0, (blocksize, hop)
    return blocksize + hop - math.gcd(blocksize, hop)


def least_buffer(blocksize: int, hop: int) -> int:
    """`stem_floor` rounded up to whole blocks: the live buffer with no time for the worker."""
    return round_up(stem_floor(blocksize, hop), blocksize)


def compute_blocks(blocksize: int, sample_rate: int, seconds: float = COMPUTE_SECONDS) -> int:
    """Whole blocks added to the least buffer so that the worker has at least `seconds` for a hop: it has one
    period at the least buffer and one more per block (module docstring)."""
    assert blocksize > 0 and sample_rate > 0 and seconds >= 0, (blocksize, sample_rate, seconds)
    periods = seconds * sample_rate / blocksize
    return max(0, math.ceil(periods - 1e-9) - 1)  # (the tolerance: a float just above a whole number)


def live_buffer(blocksize: int, hop: int, sample_rate: int, seconds: float = COMPUTE_SECONDS) -> int:
    """The live buffer B in samples: `least_buffer` plus `compute_blocks` blocks."""
    return least_buffer(blocksize, hop) + compute_blocks(blocksize, sample_rate, seconds) * blocksize


def live_buffer_max(blocksize: int, hop: int, sample_rate: int) -> int:
    """The most the live buffer grows to after underruns: `GROWTH_BLOCKS` blocks (at least a hop) more."""
    growth = max(GROWTH_BLOCKS * blocksize, round_up(hop, blocksize))
    return live_buffer(blocksize, hop, sample_rate) + growth


class Wakeup:
    """A pipe that the input callback writes a byte to whenever input arrives (`signal`, or the native
    callback through `write_fd` and `write_address`) and that the worker waits on (`wait`). Where there are
    no pipes to select on (Windows) `wait` sleeps on `fallback`, an Event that `signal` sets."""

    def __init__(self, pipe: bool = os.name == "posix"):
        self.fallback = threading.Event()
        self.read_fd = self.write_fd = -1
        self.write_address = 0  # libc's write(), for the native callback
        if pipe:
            self.read_fd, self.write_fd = os.pipe()
            os.set_blocking(self.read_fd, False)
            os.set_blocking(self.write_fd, False)  # a full pipe drops the byte: a wake-up is pending anyway
            self.write_address = ctypes.cast(ctypes.CDLL(None).write, ctypes.c_void_p).value or 0

    def signal(self) -> None:
        """From any thread, the real-time ones included: never blocks."""
        if self.write_fd < 0:
            self.fallback.set()
            return
        try:
            os.write(self.write_fd, b"\1")
        except (BlockingIOError, OSError):  # full (a wake-up is pending) or closed (the engine is closing)
            pass

    def wait(self, timeout: float) -> None:
        """Until a signal or `timeout` seconds; consumes every pending signal."""
        if self.read_fd < 0:
            self.fallback.wait(timeout)
            self.fallback.clear()
            return
        try:
            ready, _, _ = select.select([self.read_fd], [], [], timeout)
            if ready:
                os.read(self.read_fd, 4096)
        except (OSError, ValueError):  # closed while waiting (the engine is closing)
            self.fallback.wait(timeout)

    def close(self) -> None:
        """Close the pipe; no callback may signal any more (the engine stores -1 in its cell first)."""
        for fd in (self.read_fd, self.write_fd):
            if fd >= 0:
                os.close(fd)
        self.read_fd = self.write_fd = -1
