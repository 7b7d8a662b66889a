"""The admission queue every dynamic batcher shares: bounded FIFO, deadlines, batch forming, idle tracking.

Producers `admit()` items from any thread; one worker `take()`s a batch when `limit` items wait or
the oldest has waited `max_queue_delay_s`, and calls `done()` after running it. An item whose
deadline passed is dropped with reason "deadline" (never served stale), a full queue drops with
"overflow", a closed one with "stopped". What an item is, how it is counted and what a drop does
belong to the batcher (inference.batcher.DynamicBatcher, llm.batcher.LlmBatcher).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")


class AdmissionQueue(Generic[Item]):
    """Bounded FIFO between producers and one batching worker."""

    def __init__(
        self,
        max_queue: int,
        max_queue_delay_s: float,
        *,
        enqueued_ns: Callable[[Item], int],
        deadline_ns: Callable[[Item], int | None],
        drop: Callable[[Item, str], None],
    ) -> None:
        self.max_queue = max_queue
        self.max_queue_delay_s = max_queue_delay_s
        self._enqueued_ns = enqueued_ns
        self._deadline_ns = deadline_ns
        self._drop = drop
        self._queue: deque[Item] = deque()
        self._cond = threading.Condition()
        #: The queue's lock (a Condition): hold it to read counters the drop callback writes.
        self.lock = self._cond
        self._stop = False
        self._busy = False

    # ------------------------------------------------------------------ producers
    def admit(self, item: Item, on_admitted: Callable[[], None] | None = None) -> bool:
        """Queue `item`, or drop it ('stopped', 'overflow') and return False.

        `on_admitted` runs under the queue's lock, so counting admissions needs no lock of its own.
        """
        with self._cond:
            if self._stop:
                self._drop(item, "stopped")
                return False
            if len(self._queue) >= self.max_queue:
                self._drop(item, "overflow")
                return False
            self._queue.append(item)
            if on_admitted is not None:
                on_admitted()
            self._cond.notify_all()
        return True

    def pending(self) -> int:
        """Items waiting or in the batch being run."""
        with self._cond:
            return len(self._queue) + (1 if self._busy else 0)

    def queued(self) -> int:
        """Items waiting for a batch."""
        with self._cond:
            return len(self._queue)

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until nothing is queued or running."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self) -> None:
        """Refuse new items and wake the worker; `drain()` drops what is left once it is gone."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    def drain(self) -> None:
        """Drop every queued item with reason 'stopped' (after the worker has stopped)."""
        with self._cond:
            while self._queue:
                self._drop(self._queue.popleft(), "stopped")

    # ------------------------------------------------------------------ the worker
    def _expired(self, item: Item, now_ns: int) -> bool:
        deadline = self._deadline_ns(item)
        return deadline is not None and deadline < now_ns

    def take(
        self, limit: Callable[[Item], int], accept: Callable[[Item], bool] | None = None
    ) -> list[Item] | None:
        """The next batch (None once closed); blocks until one is due.

        `limit(head)` is the batch size for the item at the head; `accept(item)` False ends the
        batch early, leaving that item at the head for the next one.
        """
        with self._cond:
            while True:
                if self._stop:
                    return None
                now = time.monotonic_ns()
                while self._queue and self._expired(self._queue[0], now):
                    self._drop(self._queue.popleft(), "deadline")
                if not self._queue:
                    self._cond.notify_all()  # wake wait_idle()
                    self._cond.wait(0.5)
                    continue
                size = limit(self._queue[0])
                waited = (now - self._enqueued_ns(self._queue[0])) / 1e9
                if len(self._queue) < size and waited < self.max_queue_delay_s:
                    self._cond.wait(self.max_queue_delay_s - waited)
                    continue
                batch: list[Item] = []
                while self._queue and len(batch) < size:
                    item = self._queue.popleft()
                    if self._expired(item, now):
                        self._drop(item, "deadline")
                    elif accept is None or not batch or accept(item):
                        batch.append(item)
                    else:
                        self._queue.appendleft(item)
                        break
                if batch:
                    self._busy = True
                    return batch

    def done(self) -> None:
        """The worker finished the batch `take()` gave it."""
        with self._cond:
            self._busy = False
            self._cond.notify_all()
