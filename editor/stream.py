"""A worker thread seen as an iterator: how a drag streams its preview frames to the page."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator

__all__ = ["ThreadStream"]


class ThreadStream:
    """Thread-to-generator adapter: runs `run(emit)` on a worker thread and yields what it emits.

    Iterating starts the worker and yields, in the caller's thread, each item the worker
    passed to `emit` (only the newest when the consumer is behind: a page shows the latest
    frame). When the iteration ends, `result` holds what `run` returned, `seconds` its
    duration and `span` its (start, end) `time.monotonic()`; an exception raised in the
    worker is re-raised by the iteration. A consumer that leaves early does not end the
    worker: make `run` return (the drag's Stop) and `join` it.
    """

    def __init__(self, run: Callable[[Callable[[object], None]], object], name: str):
        self.run, self.name = run, name
        self.result: object = None
        self.seconds = 0.0
        self.span = (0.0, 0.0)
        self._error: BaseException | None = None
        self.worker: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the worker has started and not yet returned."""
        return self.worker is not None and self.worker.is_alive()

    def join(self, timeout: float | None) -> bool:
        """Wait up to `timeout` seconds (None = for ever) for the worker; True when it has ended."""
        if self.worker is not None:
            self.worker.join(timeout)
        return not self.running

    def _work(self, items: queue.Queue) -> None:
        t, start = time.perf_counter(), time.monotonic()
        try:
            self.result = self.run(items.put)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            self._error = exc
        self.seconds = time.perf_counter() - t
        self.span = (start, time.monotonic())

    def __iter__(self) -> Iterator:
        items: queue.Queue = queue.Queue()
        self.worker = worker = threading.Thread(target=self._work, args=(items,), name=self.name, daemon=True)
        worker.start()
        while worker.is_alive() or not items.empty():
            try:
                item = items.get(timeout=0.05)
            except queue.Empty:
                continue
            while not items.empty():  # only the newest item when the consumer is behind
                item = items.get_nowait()
            yield item
        worker.join()
        if self._error is not None:
            raise self._error
