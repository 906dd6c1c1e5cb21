"""Slow engine calls (opening a file, loading a model, changing devices) off the GUI thread.

One plain Python worker thread runs the calls in order (the engine never sees two slow calls at once) and the
result comes back to the GUI thread through a queued Qt signal. A Python thread rather than a QThreadPool one:
it is joined on `shutdown()`, so closing the window provably leaves no thread behind.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot


class TaskRunner(QObject):
    """`submit(fn, on_done, on_error)`: fn() runs on the worker; a callback runs later on the GUI thread."""

    # (task id, (result, exception or None)): a tuple, because PySide6 miscounts references to a bare None
    # passed through an `object` argument of a queued signal (a crash at exit).
    _finished = Signal(int, object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._executor: ThreadPoolExecutor | None = None
        self._callbacks: dict[int, tuple[Callable[[Any], None], Callable[[BaseException], None]]] = {}
        self._ids = itertools.count()
        # Always queued, even when a task finished before add_done_callback (then it runs on this thread):
        # callbacks never run inside submit().
        self._finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def busy(self) -> bool:
        return bool(self._callbacks)

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="demixui-ui-task")
        task_id = next(self._ids)
        self._callbacks[task_id] = (on_done, on_error)
        future = self._executor.submit(fn)
        future.add_done_callback(lambda f, i=task_id: self._report(i, f))

    def _report(self, task_id: int, future: Future) -> None:
        # Runs on the worker thread: only emit (Qt queues the call to the GUI thread).
        error = future.exception()
        self._finished.emit(task_id, (None if error else future.result(), error))

    @Slot(int, object)
    def _deliver(self, task_id: int, outcome: tuple[Any, BaseException | None]) -> None:
        result, error = outcome
        callbacks = self._callbacks.pop(task_id, None)
        if callbacks is None:
            return
        on_done, on_error = callbacks
        if error is not None:
            on_error(error)
        else:
            on_done(result)

    def shutdown(self) -> None:
        """Wait for the running call, drop queued ones and join the worker thread."""
        self._callbacks.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
