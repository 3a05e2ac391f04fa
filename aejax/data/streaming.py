"""The streamed input pipeline: one process's share of each global batch, read ahead in a background thread.

The epoch's order is handed in (the fit loop draws it exactly as for the in-memory path, from (seed, epoch)), so
global batch `p` of an epoch is `order[p * batch : (p + 1) * batch]` and a resumed run needs nothing but its
step. Each process reads only the rows of its slice `[lo, hi)` of every global batch; a thread reads the next
`prefetch` batches while the current step runs.
"""

from __future__ import annotations

import queue
import threading

import numpy as np

from aejax.data.row_sources import RowSource

_DONE = object()


def _put(out: queue.Queue, item, stop: threading.Event) -> bool:
    """Put `item` unless `stop` is set first; whether it was put."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class BatchStream:
    """Reads rows `[lo, hi)` of each global batch of an epoch's order from `source`, `prefetch` batches ahead.

    `start(order, position)` begins (or restarts) at global batch `position`; `next(position)` returns that
    batch's local rows. `rows_read` counts the rows this process read (a test checks each reads its share)."""

    def __init__(
        self, source: RowSource, batch_size: int, share: tuple[int, int] | None = None, prefetch: int = 4
    ):
        self.source, self.batch_size = source, batch_size
        self.lo, self.hi = share if share is not None else (0, batch_size)
        if not 0 <= self.lo < self.hi <= batch_size:
            raise ValueError(
                f"a process's share of a batch of {batch_size} must be [lo, hi) inside it, got {share}"
            )
        self.prefetch = max(1, prefetch)
        self.rows_read = 0
        self._thread: threading.Thread | None = None
        self._queue: queue.Queue | None = None
        self._stop = threading.Event()
        self._next = -1

    def start(self, order: np.ndarray, position: int) -> None:
        """Read the epoch's batches from `position` on (a running reader is stopped first)."""
        self.close()
        steps = order.shape[0] // self.batch_size
        self._stop = threading.Event()
        self._queue = queue.Queue(self.prefetch)
        self._next = position
        self._thread = threading.Thread(
            target=self._run,
            args=(order, position, steps, self._queue, self._stop),
            daemon=True,
            name="aejax-stream",
        )
        self._thread.start()

    def _run(self, order, position, steps, out: queue.Queue, stop: threading.Event) -> None:
        try:
            for p in range(position, steps):
                rows = order[p * self.batch_size + self.lo : p * self.batch_size + self.hi]
                batch = self.source.read(rows)
                self.rows_read += len(rows)
                if not _put(out, batch, stop):
                    return
            _put(out, _DONE, stop)
        except BaseException as err:  # handed to the training thread, which raises it
            _put(out, err, stop)

    def next(self, position: int) -> np.ndarray:
        """The local rows of global batch `position` (must be the one after the last, or where `start` began)."""
        if self._queue is None or position != self._next:
            raise RuntimeError(
                f"the stream is at batch {self._next}, asked for {position}: call start() first"
            )
        item = self._queue.get()
        if item is _DONE:
            raise RuntimeError(f"the stream has no batch {position}: the epoch ended")
        if isinstance(item, BaseException):
            self._queue = None
            raise item
        self._next += 1
        return item

    @property
    def running(self) -> bool:
        """Whether a reader is started and has not failed."""
        return self._queue is not None

    @property
    def position(self) -> int:
        """The next global batch `next` returns."""
        return self._next

    def close(self) -> None:
        """Stop the reader thread (it ends within its current read)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        self._thread, self._queue = None, None
