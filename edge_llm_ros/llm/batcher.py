"""Dynamic batcher for LLM requests: max batch, max queue delay, per-request deadline, max new tokens.

Producers `submit()` requests from any thread; one worker thread takes a batch when `max_batch`
requests wait or the oldest has waited `max_queue_delay_s`, and runs them through one batched
`LlmEngine.generate_batch`. A request is never served stale: it is dropped with reason
"deadline" when its deadline passes in the queue, or while it is generating (its row is
cancelled at the next token), or if it finishes late. A structured request (with a schema) is
guided by that schema and validated after; output that does not validate is dropped as
"invalid". Results and drops go to per-request callbacks; everything is counted.

The interface mirrors edge_llm_ros.inference.batcher.DynamicBatcher (on_result / on_drop,
`counters`, `batch_sizes`, `wait_idle`, `close`) so nodes treat both alike, and queues through the
same inference.admission.AdmissionQueue.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from edge_llm_ros.inference.admission import AdmissionQueue
from edge_llm_ros.llm.advisory import Advisory, AdvisorySchema, InvalidAdvisoryError
from edge_llm_ros.llm.engine import GenerationResult, LlmEngine, LlmInputError

_log = logging.getLogger(__name__)

DROP_REASONS = ("deadline", "invalid", "bad_request", "overflow", "stopped", "error")
# Drop reason -> counter name; "cancelled_deadline" and "rejected_invalid" are the names.
_COUNTER = {
    "deadline": "cancelled_deadline",
    "invalid": "rejected_invalid",
    "bad_request": "rejected_request",
    "overflow": "dropped_overflow",
    "stopped": "dropped_stopped",
    "error": "errors",
}


@dataclass(frozen=True)
class LlmBatcherConfig:
    """Batching policy.

    `deadline_s` is the default per-request deadline (0: none); `max_new_tokens` is the default
    and the cap per request. Size max_batch against the deadline: on the 2-core dev box,
    SmolLM2 int4 prefill of a ~150-token scene prompt is ~0.45 s alone but ~3.3 s for 8 rows.
    """

    max_batch: int = 4
    max_queue_delay_s: float = 0.05
    deadline_s: float = 3.0
    max_new_tokens: int = 96
    max_queue: int = 32
    #: Scheduling niceness of the generation thread (Linux: per thread). The LLM is advisory, so
    #: on a small edge CPU it yields to the safety path instead of competing with it.
    nice: int = 10

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.max_queue < self.max_batch:
            raise ValueError("need max_batch >= 1 and max_queue >= max_batch")
        if self.max_queue_delay_s < 0 or self.deadline_s < 0:
            raise ValueError("max_queue_delay_s and deadline_s must be >= 0")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")


@dataclass
class LlmRequest:
    """One prompt.

    `schema` makes it structured (guided + validated); `stamp_ns` links the result to the
    frame/decision it is about; `on_token` receives streamed text pieces.
    """

    prompt: str
    schema: AdvisorySchema | None = None
    max_new_tokens: int | None = None
    deadline_ns: int | None = None
    stamp_ns: int = 0
    on_token: Callable[[str], None] | None = None
    request_id: int = -1
    enqueued_ns: int = 0


@dataclass(frozen=True)
class LlmResult:
    """A served request. `advisory` is set (validated) for structured requests."""

    request_id: int
    stamp_ns: int
    text: str
    advisory: Advisory | None
    generation: GenerationResult
    enqueued_ns: int
    batch_size: int

    @property
    def time_to_first_token_s(self) -> float | None:
        """From enqueue to the first generated token (queueing and prefill included)."""
        first = self.generation.first_token_ns
        return None if first is None else (first - self.enqueued_ns) / 1e9

    @property
    def latency_s(self) -> float:
        """From enqueue to the last token."""
        return (self.generation.done_ns - self.enqueued_ns) / 1e9


@dataclass
class _Pending:
    request: LlmRequest
    on_result: Callable[[LlmResult], None]
    on_drop: Callable[[str], None] | None
    max_new_tokens: int = field(default=0)


class LlmBatcher:
    """Queues LlmRequests and serves them in batches on one worker thread (started here)."""

    def __init__(self, engine: LlmEngine, config: LlmBatcherConfig | None = None, name: str = "llm_batcher"):
        self.engine = engine
        self.config = config or LlmBatcherConfig()
        self.counters: Counter[str] = Counter()
        self.batch_sizes: Counter[int] = Counter()
        self._queue: AdmissionQueue[_Pending] = AdmissionQueue(
            self.config.max_queue,
            self.config.max_queue_delay_s,
            enqueued_ns=lambda item: item.request.enqueued_ns,
            deadline_ns=lambda item: item.request.deadline_ns,
            drop=self._drop,
        )
        self._ids = itertools.count()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ producers
    def submit(
        self,
        request: LlmRequest,
        on_result: Callable[[LlmResult], None],
        on_drop: Callable[[str], None] | None = None,
    ) -> bool:
        """Queue `request`; False (and on_drop(reason)) when it is rejected or the queue is full.

        Fills in request_id, enqueued_ns, and deadline_ns when unset (now + deadline_s).
        """
        now = time.monotonic_ns()
        request.request_id = next(self._ids)
        request.enqueued_ns = now
        if request.deadline_ns is None and self.config.deadline_s > 0:
            request.deadline_ns = now + int(self.config.deadline_s * 1e9)
        pending = _Pending(request, on_result, on_drop)
        problem = self._check(request)
        if problem is not None:
            _log.debug("LLM request %d rejected: %s", request.request_id, problem)
            self._drop(pending, "bad_request")
            return False
        pending.max_new_tokens = min(request.max_new_tokens or self.config.max_new_tokens, self.config.max_new_tokens)
        return self._queue.admit(pending, self._admitted)

    def _admitted(self) -> None:
        self.counters["submitted"] += 1

    def _check(self, request: LlmRequest) -> str | None:
        if not request.prompt.strip():
            return "empty prompt"
        if request.max_new_tokens is not None and request.max_new_tokens < 1:
            return "max_new_tokens < 1"
        needed = self.engine.count_tokens(request.prompt) + (request.max_new_tokens or self.config.max_new_tokens)
        if needed > self.engine.info.context_length:
            return f"needs {needed} tokens, context is {self.engine.info.context_length}"
        return None

    def pending(self) -> int:
        """Requests waiting or being generated."""
        return self._queue.pending()

    def queued(self) -> int:
        """Requests waiting for a batch (not yet generating)."""
        return self._queue.queued()

    @property
    def running(self) -> bool:
        """The worker thread is alive."""
        return self._thread.is_alive()

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until nothing is queued or running."""
        return self._queue.wait_idle(timeout_s)

    def stats(self) -> dict[str, object]:
        """Snapshot: every counter (zeros included) and the batch-size histogram."""
        with self._queue.lock:
            names = ("submitted", "served", *_COUNTER.values())
            counts: dict[str, object] = {name: self.counters[name] for name in names}
            counts["batch_sizes"] = dict(sorted(self.batch_sizes.items()))
        return counts

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the worker after its current batch; queued requests are dropped as 'stopped'."""
        self._queue.close()
        self._thread.join(timeout_s)
        self._queue.drain()

    # ------------------------------------------------------------------ worker
    def _drop(self, pending: _Pending, reason: str) -> None:
        self.counters[_COUNTER[reason]] += 1
        if pending.on_drop is not None:
            try:
                pending.on_drop(reason)
            except Exception:
                _log.exception("on_drop callback raised")

    def _batch_limit(self, head: _Pending) -> int:
        guided_cap = self.engine.max_guided_batch
        if head.request.schema is not None and guided_cap is not None:
            return min(self.config.max_batch, guided_cap)
        return self.config.max_batch

    def _accept(self, item: _Pending) -> bool:
        # Native guidance: a guided request waits for a batch of its own.
        return self.engine.max_guided_batch is None or item.request.schema is None

    def _loop(self) -> None:
        if self.config.nice:
            try:  # a thread is a task on Linux: this lowers only the generation thread
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.config.nice)
            except (AttributeError, OSError) as exc:
                _log.info("cannot lower the LLM thread's priority: %s", exc)
        while (batch := self._queue.take(self._batch_limit, self._accept)) is not None:
            try:
                self._run(batch)
            except Exception:
                _log.exception("LLM batch of %d failed", len(batch))
                for item in batch:
                    self._drop(item, "error")
            finally:
                self._queue.done()

    def _run(self, batch: list[_Pending]) -> None:
        requests = [item.request for item in batch]

        def should_stop(row: int) -> bool:
            return _expired(requests[row], time.monotonic_ns())

        def on_token(row: int, piece: str) -> None:
            callback = requests[row].on_token
            if callback is not None and not should_stop(row):
                try:
                    callback(piece)
                except Exception:
                    _log.exception("on_token callback raised")

        streaming = any(r.on_token is not None for r in requests)
        try:
            results = self.engine.generate_batch(
                [r.prompt for r in requests],
                [item.max_new_tokens for item in batch],
                json_schema=[r.schema.json if r.schema is not None else None for r in requests],
                on_token=on_token if streaming else None,
                should_stop=should_stop,
            )
        except LlmInputError:
            _log.exception("LLM batch rejected by the engine")
            for item in batch:
                self._drop(item, "bad_request")
            return
        self.batch_sizes[len(batch)] += 1
        for item, result in zip(batch, results, strict=True):
            self._finish(item, result, len(batch))

    def _finish(self, item: _Pending, result: GenerationResult, batch_size: int) -> None:
        request = item.request
        if result.finish_reason == "cancelled" or _expired(request, result.done_ns):
            self._drop(item, "deadline")
            return
        advisory = None
        if request.schema is not None:
            try:
                advisory = request.schema.parse(result.text)
            except InvalidAdvisoryError as exc:
                _log.debug("LLM output for request %d invalid: %s", request.request_id, exc)
                self._drop(item, "invalid")
                return
        self.counters["served"] += 1
        served = LlmResult(
            request_id=request.request_id,
            stamp_ns=request.stamp_ns,
            text=result.text,
            advisory=advisory,
            generation=result,
            enqueued_ns=request.enqueued_ns,
            batch_size=batch_size,
        )
        try:
            item.on_result(served)
        except Exception:
            self.counters["result_callback_errors"] += 1
            _log.exception("on_result callback raised")


def _expired(request: LlmRequest, now_ns: int) -> bool:
    return request.deadline_ns is not None and now_ns > request.deadline_ns
