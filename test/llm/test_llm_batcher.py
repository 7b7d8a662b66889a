"""LlmBatcher with the tiny model: batching, deadlines (queued and mid-generation), invalid output."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from edge_llm_ros.llm.advisory import AdvisorySchema
from edge_llm_ros.llm.batcher import LlmBatcher, LlmBatcherConfig, LlmRequest, LlmResult
from edge_llm_ros.llm.engine import LlmEngine


class Sink:
    """Collects results and drop reasons from callbacks (thread-safe)."""

    def __init__(self) -> None:
        self.results: list[LlmResult] = []
        self.drops: list[str] = []
        self._lock = threading.Lock()

    def result(self, result: LlmResult) -> None:
        with self._lock:
            self.results.append(result)

    def drop(self, reason: str) -> None:
        with self._lock:
            self.drops.append(reason)


@pytest.fixture()
def sink() -> Sink:
    return Sink()


def make(engine: LlmEngine, **overrides: float) -> Iterator[LlmBatcher]:
    batcher = LlmBatcher(engine, LlmBatcherConfig(**overrides))  # type: ignore[arg-type]
    try:
        yield batcher
    finally:
        batcher.close()


def test_concurrent_requests_are_batched(tiny_engine: LlmEngine, sink: Sink) -> None:
    for batcher in make(tiny_engine, max_batch=4, max_queue_delay_s=0.5, max_new_tokens=8, deadline_s=30):
        for i in range(8):
            assert batcher.submit(LlmRequest(f"Scene {i}: traffic.", stamp_ns=i), sink.result, sink.drop)
        assert batcher.wait_idle(30)
        stats = batcher.stats()
        assert stats["served"] == 8 and stats["submitted"] == 8
        assert max(batcher.batch_sizes) > 1
        assert sum(size * n for size, n in batcher.batch_sizes.items()) == 8
        assert sorted(r.stamp_ns for r in sink.results) == list(range(8))
        assert all(0 < r.generation.generated_tokens <= 8 for r in sink.results)
        assert all(r.latency_s >= (r.time_to_first_token_s or 0) > 0 for r in sink.results)
        assert not sink.drops


def test_request_past_deadline_in_queue_is_cancelled_and_counted(tiny_engine: LlmEngine, sink: Sink) -> None:
    for batcher in make(tiny_engine, max_queue_delay_s=0.05):
        expired = time.monotonic_ns() - 1
        assert batcher.submit(LlmRequest("late", deadline_ns=expired), sink.result, sink.drop)
        assert batcher.wait_idle(10)
        assert sink.drops == ["deadline"] and not sink.results
        assert batcher.stats()["cancelled_deadline"] == 1


def test_deadline_passing_during_generation_cancels_the_row(tiny_engine: LlmEngine, sink: Sink) -> None:
    """A slow consumer (streaming callback) makes generation outlast the deadline."""
    streamed: list[str] = []

    def slow(piece: str) -> None:
        streamed.append(piece)
        time.sleep(0.01)

    for batcher in make(tiny_engine, max_queue_delay_s=0.0, max_new_tokens=200, deadline_s=0.3):
        assert batcher.submit(LlmRequest("Scene: traffic.", on_token=slow), sink.result, sink.drop)
        assert batcher.wait_idle(20)
        assert sink.drops == ["deadline"] and not sink.results
        assert batcher.stats()["cancelled_deadline"] == 1
        assert 0 < len(streamed) < 200  # stopped at the deadline, not at max_new_tokens


def test_invalid_structured_output_is_dropped_and_counted(
    unguided_engine: LlmEngine, traffic_schema: AdvisorySchema, sink: Sink
) -> None:
    for batcher in make(unguided_engine, max_queue_delay_s=0.2, max_new_tokens=32, deadline_s=30):
        for i in range(3):
            batcher.submit(LlmRequest(f"Reply with JSON {i}.", schema=traffic_schema), sink.result, sink.drop)
        assert batcher.wait_idle(30)
        assert sink.drops == ["invalid"] * 3 and not sink.results
        assert batcher.stats()["rejected_invalid"] == 3 and batcher.stats()["served"] == 0


def test_guided_structured_requests_are_served_validated(
    tiny_engine: LlmEngine, traffic_schema: AdvisorySchema, sink: Sink
) -> None:
    pytest.importorskip("llguidance")
    for batcher in make(tiny_engine, max_batch=4, max_queue_delay_s=0.3, max_new_tokens=400, deadline_s=60):
        for i in range(4):
            batcher.submit(LlmRequest(f"Scene {i}.", schema=traffic_schema, stamp_ns=i), sink.result, sink.drop)
        assert batcher.wait_idle(60)
        assert not sink.drops
        assert len(sink.results) == 4
        for result in sink.results:
            assert result.advisory is not None
            assert result.advisory.action in traffic_schema.actions
            assert result.advisory.schema_id == traffic_schema.schema_id


def test_bad_requests_are_rejected_at_submit(tiny_engine: LlmEngine, sink: Sink) -> None:
    for batcher in make(tiny_engine):
        assert not batcher.submit(LlmRequest("   "), sink.result, sink.drop)
        too_long = "word " * tiny_engine.info.context_length
        assert not batcher.submit(LlmRequest(too_long), sink.result, sink.drop)
        assert sink.drops == ["bad_request", "bad_request"]
        assert batcher.stats()["rejected_request"] == 2


def test_queue_is_bounded(tiny_engine: LlmEngine, sink: Sink) -> None:
    gate = threading.Event()

    def blocking(piece: str) -> None:
        gate.wait(5)

    for batcher in make(tiny_engine, max_batch=1, max_queue=1, max_queue_delay_s=0.0, deadline_s=30):
        assert batcher.submit(LlmRequest("first", max_new_tokens=2, on_token=blocking), sink.result, sink.drop)
        deadline = time.monotonic() + 5
        while batcher.queued() and time.monotonic() < deadline:  # the first is generating
            time.sleep(0.01)
        assert batcher.submit(LlmRequest("second", max_new_tokens=2), sink.result, sink.drop)
        assert not batcher.submit(LlmRequest("third", max_new_tokens=2), sink.result, sink.drop)
        gate.set()
        assert batcher.wait_idle(10)
        assert sink.drops == ["overflow"] and len(sink.results) == 2
        assert batcher.stats()["dropped_overflow"] == 1


def test_close_stops_the_worker_and_drops_queued(tiny_engine: LlmEngine, sink: Sink) -> None:
    batcher = LlmBatcher(tiny_engine, LlmBatcherConfig(max_batch=8, max_queue_delay_s=5.0))
    batcher.submit(LlmRequest("waits for a full batch"), sink.result, sink.drop)
    batcher.close()
    assert not batcher.running
    assert sink.drops == ["stopped"]
    assert not batcher.submit(LlmRequest("after close"), sink.result, sink.drop)
    assert sink.drops == ["stopped", "stopped"]
