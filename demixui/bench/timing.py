"""Timing rules shared by our model and the peers, so every system is measured the same way.

Real-time factor (RTF): compute seconds per second of audio; below 1 keeps up with real time on one thread.

Smallest real-time latency: a system that processes audio in chunks of C samples can play the first sample of
a chunk only once the whole chunk has arrived (C), plus whatever its algorithm needs beyond the chunk (A: the
STFT's window overlap n_fft - hop for spectrogram models, the encoder overlap for HS-TasNet, nothing for a
fixed-segment model that takes the segment as its chunk), plus the time to compute that chunk t(C). It keeps
up only when t(C) <= C. We search a ladder of chunk sizes for the smallest that keeps up and report
`C + A + t(C)`, with t(C) the fastest of a few calls after a warm-up call (the call least disturbed by other
processes: generous to every system alike). This is a lower bound for a bidirectional model, which also loses
its future context when cut into short chunks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def compute_clock() -> float:
    """CPU seconds used by this process so far. Every system runs on one thread, so its CPU time is its
    compute time; unlike wall-clock time it does not count what other processes on a shared machine took."""
    return time.process_time()


def time_call(fn: Callable[[], object]) -> float:
    """Compute seconds (CPU time of this process) of one call."""
    start = compute_clock()
    fn()
    return compute_clock() - start


def best_time(fn: Callable[[], object], reps: int, warmup: int = 1) -> float:
    """The fastest of `reps` timed calls after `warmup` untimed calls, in compute seconds."""
    for _ in range(warmup):
        fn()
    return min(time_call(fn) for _ in range(max(reps, 1)))


@dataclass(frozen=True)
class ChunkResult:
    """The smallest chunk on the ladder that keeps up, or why none does. Samples at `sample_rate`."""

    chunk_samples: int | None
    compute_seconds: float | None
    overlap_samples: int
    sample_rate: int
    tried: tuple[tuple[int, float], ...]  # (chunk samples, compute seconds) in ladder order
    reason: str | None = None

    @property
    def latency_seconds(self) -> float | None:
        if self.chunk_samples is None or self.compute_seconds is None:
            return None
        return (self.chunk_samples + self.overlap_samples) / self.sample_rate + self.compute_seconds


def smallest_realtime_chunk(
    measure: Callable[[int], float],
    ladder: Sequence[int],
    overlap_samples: int,
    sample_rate: int,
) -> ChunkResult:
    """The smallest chunk on `ladder` (sizes in samples, ascending) that computes in at most its own duration.

    `measure(C)` returns the compute seconds of one chunk of C samples (see `step_timer`). Compute per second
    of audio falls as chunks grow (per-call overheads are shared by more audio), so this bisects the ladder:
    the largest chunk first, then halving the interval, measuring about log2(len(ladder)) + 1 chunk sizes.
    """
    measured: dict[int, float] = {}

    def keeps_up(index: int) -> bool:
        chunk = ladder[index]
        measured[chunk] = measure(chunk)
        return measured[chunk] <= chunk / sample_rate

    last = len(ladder) - 1
    if not keeps_up(last):
        largest_ms, compute_ms = 1000 * ladder[last] / sample_rate, 1000 * measured[ladder[last]]
        return ChunkResult(None, None, overlap_samples, sample_rate, tuple(measured.items()),
                           reason=f"cannot keep up on one thread here: even a {largest_ms:.0f} ms chunk "
                                  f"takes {compute_ms:.0f} ms to compute")
    lo, hi = -1, last  # ladder[hi] keeps up; everything at or below lo is known not to
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if keeps_up(mid):
            hi = mid
        else:
            lo = mid
    chunk = ladder[hi]
    tried = tuple(sorted(measured.items()))
    return ChunkResult(chunk, measured[chunk], overlap_samples, sample_rate, tried)


def step_timer(make_step: Callable[[int], Callable[[], object]], reps: int, warmup: int = 1
               ) -> Callable[[int], float]:
    """`measure(C)` for `smallest_realtime_chunk`: the best compute seconds of `make_step(C)()`.

    `make_step(C)` returns a function that processes the next chunk of C samples (a stateful stream keeps its
    state across calls; a stateless chunked model recomputes its overlap every call)."""
    return lambda chunk: best_time(make_step(chunk), reps, warmup)


def doubling_ladder(first: int, largest: int) -> list[int]:
    """`first, 2*first, 4*first, ...` up to `largest` samples."""
    ladder = [first]
    while ladder[-1] * 2 <= largest:
        ladder.append(ladder[-1] * 2)
    return ladder
