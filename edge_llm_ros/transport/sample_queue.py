"""The reader-side history every adapter uses: keep-last depth, lifespan expiry, drop counters."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from edge_llm_ros.transport.qos import QoSProfile
from edge_llm_ros.transport.sample import Sample


class SampleQueue:
    """A bounded FIFO with ROS 2 keep-last semantics: when full, the oldest sample is dropped.

    Thread-safe: transports put from their own threads, executors take from theirs.
    """

    def __init__(self, qos: QoSProfile, on_ready: Callable[[], None] | None = None) -> None:
        self._qos = qos
        self._items: deque[Sample] = deque()
        self._cond = threading.Condition()
        self._on_ready = on_ready
        self.dropped_overflow = 0
        self.dropped_expired = 0
        self.received = 0
        self.closed = False

    def put(self, sample: Sample) -> None:
        """Append, evicting the oldest sample past the history depth."""
        with self._cond:
            if self.closed:
                return
            self.received += 1
            self._items.append(sample)
            limit = self._qos.queue_limit
            while limit is not None and len(self._items) > limit:
                self._items.popleft()
                self.dropped_overflow += 1
            self._cond.notify_all()
        if self._on_ready is not None:
            self._on_ready()

    def _expire(self) -> None:
        if self._qos.lifespan_s <= 0:
            return
        oldest_ok = time.time_ns() - int(self._qos.lifespan_s * 1e9)
        while self._items and self._items[0].info.source_timestamp_ns < oldest_ok:
            self._items.popleft()
            self.dropped_expired += 1

    def peek_arrival(self) -> int | None:
        """Arrival number of the oldest live sample (for executors that serve in arrival order)."""
        with self._cond:
            self._expire()
            return self._items[0].arrival if self._items else None

    def take(self, timeout: float | None = 0.0) -> Sample | None:
        """Oldest live sample; waits up to `timeout` seconds (None: forever) when empty."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._expire()
                if self._items:
                    return self._items.popleft()
                if self.closed:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def close(self) -> None:
        """Wake any waiter; later puts are ignored."""
        with self._cond:
            self.closed = True
            self._items.clear()
            self._cond.notify_all()
