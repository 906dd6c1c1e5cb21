"""Several files at once: worker processes, each separating whole files with its own copy of the model.

Why processes for a batch: files are independent, so N workers keep N cores busy with no order to keep and
no lock to share, and every stage of a worker (decoding, resampling, the model, synthesis, encoding) runs in
parallel with the others' (threads would queue behind one another wherever a stage holds the GIL). Memory is
one model and a few blocks per worker, whatever the files' lengths. One long file goes through the threaded
pipeline instead (pipeline.py). Workers are spawned, not forked: the parent already runs onnxruntime's and
tqdm's threads, which a fork would copy in an unknown state.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from demixui.errors import DemixError, ModelOutputError

_model = None  # the worker's model, loaded once per process by `_start_worker`
_messages = None  # the worker's end of the progress queue


@dataclass
class Outcome:
    """What became of one input: `result` (a SeparationResult) or `error` (one line); `model_broken` when
    the model's output was NaN or infinite (the batch stops)."""

    index: int
    result: object | None = None
    error: str | None = None
    model_broken: bool = False


_busy = False  # the worker is inside `separate_file` (set and read on its main thread only)


class _Terminated(BaseException):
    """SIGTERM in a busy worker: unwinds `separate_file`, whose `finally` removes its temporary output."""


def _terminate(signum, frame):
    if _busy:
        raise _Terminated()
    os._exit(128 + signum)  # idle: nothing to tidy, and no traceback from the pool's loop


def _start_worker(model_path: str, threads: int, messages) -> None:
    global _model, _messages
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole group: the parent decides
    signal.signal(signal.SIGTERM, _terminate)
    from demixui.model.runtime import load_model

    _model = load_model(model_path, intra_op_threads=threads)
    _messages = messages


def _separate_one(index: int, input_path: Path, options: dict) -> Outcome:
    from demixui.model.offline import separate_file

    def progress(done: int, total: int) -> None:
        _messages.put((index, done, total))

    global _busy
    _busy = True
    try:
        result = separate_file(_model, input_path, progress=progress, **options)
    except _Terminated:
        os._exit(128 + signal.SIGTERM)  # the temporary output is gone already (separate_file's finally)
    except ModelOutputError as error:
        return Outcome(index, error=str(error), model_broken=True)
    except (DemixError, OSError) as error:
        return Outcome(index, error=one_line(error))
    finally:
        _busy = False
    return Outcome(index, result=result)


def separate_in_parallel(
    model_path: Path,
    inputs: Sequence[tuple[int, Path]],
    workers: int,
    options: dict,
    on_outcome: Callable[[Outcome], None],
    on_progress: Callable[[int, int, int], None] | None = None,
    threaded: bool = False,
    model_threads: int = 1,
) -> list[int]:
    """Separate each `(index, path)` of `inputs` with `separate_file(model, path, **options)` in `workers`
    spawned processes; `on_outcome(outcome)` and `on_progress(index, done, total)` are called on this
    thread as they come. A broken model stops the batch: the indices never separated are returned (empty
    when every input was handled). Ctrl+C or SIGTERM here stops the workers, which remove their partial
    output, and is raised again."""
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    options = dict(options, threaded=threaded)
    pending = dict(inputs)
    # concurrent.futures rather than multiprocessing.Pool: a worker that dies (the OOM killer, a crash in a
    # native library) fails its futures instead of leaving the batch waiting for ever.
    executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                   initargs=(str(model_path), model_threads, messages))
    try:
        running = {executor.submit(_separate_one, index, path, options): index for index, path in inputs}
        while running:
            _drain(messages, on_progress, wait=0.1)
            for future in [future for future in running if future.done()]:
                index = running.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    outcome = Outcome(index, error=f"{pending[index]}: the worker process separating it "
                                                   "stopped unexpectedly (out of memory?); nothing written")
                pending.pop(index)
                on_outcome(outcome)
                if outcome.model_broken:
                    _stop(executor)
                    return sorted(pending)
        _drain(messages, on_progress, wait=0)
    except BaseException:
        _stop(executor)  # Ctrl+C, SIGTERM: each worker unwinds and removes its temporary output
        raise
    executor.shutdown(wait=True)
    return []


def _stop(executor: ProcessPoolExecutor) -> None:
    """SIGTERM to every worker (each unwinds and removes its temporary output), then wait for them. The
    workers are reached through the executor's `_processes`: Python before 3.14 offers no public way."""
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()
    executor.shutdown(wait=True, cancel_futures=True)


def _drain(messages, on_progress: Callable[[int, int, int], None] | None, wait: float) -> None:
    """Pass every waiting progress message on; wait up to `wait` seconds for the first."""
    try:
        item = messages.get(timeout=wait) if wait else messages.get_nowait()
        while True:
            if on_progress is not None:
                on_progress(*item)
            item = messages.get_nowait()
    except queue.Empty:
        return


def one_line(error: BaseException) -> str:
    """An OSError as "PATH: cause" (not "[Errno 17] File exists: 'PATH'"); anything else as its message."""
    if isinstance(error, OSError) and error.strerror:
        name = error.filename if error.filename is not None else ""
        return f"{name}: {error.strerror}" if name else error.strerror
    return str(error)
