"""Dynamic batcher: max batch, max queue delay, per-request deadline (after Triton's).

Requests from any number of producers (ROIs of one frame, frames of several cameras) queue up;
a worker thread takes a batch when `max_batch` requests wait or the oldest has waited
`max_queue_delay_s`, drops every request whose deadline has passed (counted, never served
stale), and hands the rest to `run_batch`. Results go back through each request's callback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from edge_llm_ros.inference.admission import AdmissionQueue

T = TypeVar("T")
R = TypeVar("R")

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatcherConfig:
    """Batching policy. A deadline of 0 disables per-request deadlines."""

    max_batch: int = 8
    max_queue_delay_s: float = 0.002
    deadline_s: float = 0.08
    max_queue: int = 256

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.max_queue < self.max_batch:
            raise ValueError("need max_batch >= 1 and max_queue >= max_batch")
        if self.max_queue_delay_s < 0 or self.deadline_s < 0:
            raise ValueError("delays must be >= 0")


@dataclass
class Request(Generic[T, R]):
    """One item to process and where its result goes."""

    payload: T
    on_result: Callable[[R], None]
    on_drop: Callable[[str], None] | None = None
    enqueued_ns: int = field(default_factory=time.monotonic_ns)
    deadline_ns: int | None = None


class DynamicBatcher(Generic[T, R]):
    """Forms batches on a worker thread and calls `run_batch(payloads) -> results` (same order)."""

    def __init__(self, config: BatcherConfig, run_batch: Callable[[Sequence[T]], Sequence[R]], name: str = "batcher"):
        self.config = config
        self._run_batch = run_batch
        self._queue: AdmissionQueue[Request[T, R]] = AdmissionQueue(
            config.max_queue,
            config.max_queue_delay_s,
            enqueued_ns=lambda r: r.enqueued_ns,
            deadline_ns=lambda r: r.deadline_ns,
            drop=self._drop,
        )
        self.counters: Counter[str] = Counter()
        self.batch_sizes: Counter[int] = Counter()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ producers
    def submit(
        self,
        payload: T,
        on_result: Callable[[R], None],
        on_drop: Callable[[str], None] | None = None,
        deadline_ns: int | None = None,
    ) -> bool:
        """Queue one request; False (and on_drop('overflow')) when the queue is full."""
        now = time.monotonic_ns()
        if deadline_ns is None and self.config.deadline_s > 0:
            deadline_ns = now + int(self.config.deadline_s * 1e9)
        request: Request[T, R] = Request(payload, on_result, on_drop, now, deadline_ns)
        return self._queue.admit(request, self._admitted)

    def _admitted(self) -> None:
        self.counters["submitted"] += 1

    def pending(self) -> int:
        """Requests waiting or being processed."""
        return self._queue.pending()

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Block until nothing is queued or running (for closed-loop replays and tests)."""
        return self._queue.wait_idle(timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the worker; queued requests are dropped with reason 'stopped'."""
        self._queue.close()
        self._thread.join(timeout_s)
        self._queue.drain()

    # ------------------------------------------------------------------ worker
    def _drop(self, request: Request[T, R], reason: str) -> None:
        self.counters[f"dropped:{reason}"] += 1
        if request.on_drop is not None:
            try:
                request.on_drop(reason)
            except Exception:
                _log.exception("on_drop callback raised")

    def _loop(self) -> None:
        max_batch = self.config.max_batch
        while (batch := self._queue.take(lambda _head: max_batch)) is not None:
            try:
                results = self._run_batch([r.payload for r in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"run_batch returned {len(results)} results for {len(batch)} requests")
            except Exception:
                _log.exception("batch of %d failed", len(batch))
                for request in batch:
                    self._drop(request, "error")
            else:
                self.batch_sizes[len(batch)] += 1
                self.counters["served"] += len(batch)
                for request, result in zip(batch, results, strict=True):
                    try:
                        request.on_result(result)
                    except Exception:
                        self.counters["result_callback_errors"] += 1
                        _log.exception("result callback raised")
            finally:
                self._queue.done()
