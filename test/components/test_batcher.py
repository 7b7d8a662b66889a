import threading
import time

import pytest

from edge_llm_ros.inference.batcher import BatcherConfig, DynamicBatcher


def test_batches_form_and_results_map_back() -> None:
    gate = threading.Event()

    def run(items):
        gate.wait(5)
        return [i * 10 for i in items]

    b = DynamicBatcher(BatcherConfig(max_batch=4, max_queue_delay_s=0.05, deadline_s=0), run)
    results: dict[int, int] = {}
    try:
        for i in range(9):
            b.submit(i, on_result=lambda r, i=i: results.__setitem__(i, r))
        gate.set()
        assert b.wait_idle(5)
    finally:
        b.close()
    assert results == {i: i * 10 for i in range(9)}
    assert sum(size * n for size, n in b.batch_sizes.items()) == 9
    assert max(b.batch_sizes) > 1


def test_late_requests_are_dropped_never_served() -> None:
    release = threading.Event()
    served: list[int] = []

    def run(items):
        release.wait(5)
        served.extend(items)
        return items

    b = DynamicBatcher(BatcherConfig(max_batch=1, max_queue_delay_s=0.0, deadline_s=0.05), run)
    drops: list[str] = []
    try:
        b.submit(0, on_result=lambda _r: None)  # occupies the worker
        time.sleep(0.02)
        for i in range(1, 4):
            b.submit(i, on_result=lambda _r: None, on_drop=drops.append)
        time.sleep(0.1)  # their deadlines pass while the worker is busy
        release.set()
        assert b.wait_idle(5)
    finally:
        b.close()
    assert served == [0]
    assert drops == ["deadline"] * 3 and b.counters["dropped:deadline"] == 3


def test_overflow_and_errors_are_counted() -> None:
    def boom(items):
        raise RuntimeError("engine failed")

    b = DynamicBatcher(BatcherConfig(max_batch=1, max_queue=1, max_queue_delay_s=0.0, deadline_s=0), boom)
    reasons: list[str] = []
    try:
        for i in range(50):
            b.submit(i, on_result=lambda _r: None, on_drop=reasons.append)
        assert b.wait_idle(5)
    finally:
        b.close()
    assert set(reasons) <= {"overflow", "error"} and "error" in reasons
    assert b.counters["dropped:error"] + b.counters["dropped:overflow"] == 50
    with pytest.raises(ValueError):
        BatcherConfig(max_batch=0)
