"""The offline stream as a pipeline: block i+1 is read and analysed while the model runs on block i and block
i-1 is synthesised, each stage on its own thread, so one long file keeps several cores busy.

Why threads and not processes for one file: the stream is causal and stateful (STFT buffers, the model's
recurrent state, the ISTFT's overlap), so its blocks must go through each stage in order; a file cannot be cut
into pieces without changing the numbers. The heavy calls (onnxruntime's `run`, numpy's FFTs and array maths,
soxr, libsndfile) release the GIL, so stages on threads overlap for real. Several files go to worker processes
instead (demixui/model/batch.py): there is no order to keep between them.

Every stage keeps its own state and runs on one thread only, so the numbers are those of the same stages run
in turn (a test holds them bit-identical). Queues between stages hold at most `DEPTH` blocks: memory stays a
few blocks, whatever the length of the input.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

DEPTH = 2  # blocks waiting between two stages: enough to absorb jitter, small enough to keep memory flat
Stage = Callable[..., object]


class _End:
    """Put after the last block; carries the exception that ended a stage early, if any."""

    def __init__(self, error: BaseException | None = None):
        self.error = error


def run_stages(stages: Sequence[Stage], items: Iterable[tuple[object, tuple]], threaded: bool = True
               ) -> Iterator[tuple[object, object]]:
    """For each `(tag, args)` of `items`, yield `(tag, result)`, result = the stages applied in turn: the
    first called as `stages[0](*args)`, each next one with the previous result unpacked if it is a tuple.

    `threaded`: the iteration of `items` and each stage run on their own thread (one per stage), results
    still in order; an exception in any of them is raised here. Otherwise all run on the caller's thread.
    """

    def apply(stage: Stage, value: object) -> object:
        return stage(*value) if isinstance(value, tuple) else stage(value)

    if not threaded:
        for tag, args in items:
            value: object = tuple(args)
            for stage in stages:
                value = apply(stage, value)
            yield tag, value
        return

    stop = threading.Event()
    queues: list[queue.Queue] = [queue.Queue(DEPTH) for _ in stages]

    def put(target: queue.Queue, value: object) -> bool:
        while not stop.is_set():
            try:
                target.put(value, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def get(source: queue.Queue) -> object:
        while not stop.is_set():
            try:
                return source.get(timeout=0.05)
            except queue.Empty:
                continue
        return _End()

    def upstream(index: int) -> Iterator[tuple[object, object]]:
        if index == 0:
            for tag, args in items:
                yield tag, tuple(args)
            return
        while True:
            value = get(queues[index - 1])
            if isinstance(value, _End):
                if value.error is not None:
                    raise value.error
                return
            yield value  # type: ignore[misc]

    def work(index: int) -> None:
        try:
            for tag, value in upstream(index):
                if not put(queues[index], (tag, apply(stages[index], value))):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread, raised there
            put(queues[index], _End(error))
            return
        put(queues[index], _End())

    threads = [threading.Thread(target=work, args=(index,), name=f"demixui-stage-{index}", daemon=True)
               for index in range(len(stages))]
    for thread in threads:
        thread.start()
    try:
        while True:
            value = get(queues[-1])
            if isinstance(value, _End):
                if value.error is not None:
                    raise value.error
                return
            yield value  # type: ignore[misc]
    finally:
        stop.set()  # the caller stopped early or a stage failed: every thread returns at its next put/get
        for thread in threads:
            thread.join()


def stream_aligned(
    stages: Sequence[Stage],
    blocks: Iterable[Sequence[np.ndarray]],
    latency: int,
    hop: int,
    threaded: bool = True,
) -> Iterator[np.ndarray]:
    """Feed `blocks` (each a list of `(n, c_i)` float32 chunks, one per source, of any equal length n) and
    then zeros through the `stages` (see `run_stages`; the last returns `(m, ...)` samples); yield their
    output advanced by `latency`, so the concatenated pieces line up sample for sample with the concatenated
    input and end with it.

    The stages form a causal stream with a delay of exactly `latency` samples that returns `hop` samples per
    completed frame. Each stage must keep its own state (they run on separate threads when `threaded`).
    """
    widths: list[int] | None = None

    def with_tail() -> Iterator[tuple[int, Sequence[np.ndarray]]]:
        nonlocal widths
        consumed = 0  # input samples fed so far (the zero tail not counted), carried along with each block
        for chunks in blocks:
            consumed += chunks[0].shape[0]
            widths = [chunk.shape[1] for chunk in chunks]
            yield consumed, chunks
        if widths is not None:  # latency + hop zeros: the stream holds back latency + (< a hop) samples
            yield consumed, [np.zeros((latency + hop, width), dtype=np.float32) for width in widths]

    produced = 0  # stream output samples so far; output sample p is aligned input sample p - latency
    consumed = 0
    for consumed, result in run_stages(stages, with_tail(), threaded):  # noqa: B007 - consumed used below
        first = produced - latency  # aligned index of result[0]
        produced += result.shape[0]
        lo, hi = max(first, 0), min(first + result.shape[0], consumed)
        if hi > lo:
            yield result[lo - first:hi - first]
    assert produced - latency >= consumed, (produced, latency, consumed)


def run_aligned(
    stages: Sequence[Stage],
    sources: Sequence[np.ndarray],
    out: np.ndarray,
    latency: int,
    hop: int,
    block: int,
    progress: Callable[[int], None] | None = None,
    threaded: bool = True,
) -> None:
    """`stream_aligned` over whole arrays: `sources` (each `(nb_samples, c_i)`) in blocks of `block` samples,
    the aligned output written into `out[:nb_samples]`; `progress(n)` after each block of n input samples."""
    nb_samples = out.shape[0]
    assert all(source.shape[0] == nb_samples for source in sources), [s.shape for s in sources]

    def blocks() -> Iterator[list[np.ndarray]]:
        for start in range(0, nb_samples, block):
            yield [np.ascontiguousarray(source[start:start + block], dtype=np.float32) for source in sources]
            if progress is not None:
                progress(min(block, nb_samples - start))

    position = 0
    for piece in stream_aligned(stages, blocks(), latency, hop, threaded):
        out[position:position + piece.shape[0]] = piece
        position += piece.shape[0]
    assert position == nb_samples, (position, nb_samples)
