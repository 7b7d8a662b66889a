from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from edge_llm_ros.telemetry.latency_stats import E2E, LatencyBook, LatencyStats, LatencySummary
from edge_llm_ros.telemetry.stamps import FrameTiming


def test_percentiles_match_numpy_on_known_data() -> None:
    rng = np.random.default_rng(7)
    data = rng.lognormal(mean=1.5, sigma=0.6, size=5000)
    stats = LatencyStats(initial_capacity=16)  # forces several buffer growths
    for v in data[:1000]:
        stats.add(float(v))
    stats.extend(data[1000:])
    s = stats.summary()
    assert s.count == 5000 == stats.count
    p50, p95, p99 = np.percentile(data, [50, 95, 99])
    assert s.p50 == pytest.approx(p50)
    assert s.p95 == pytest.approx(p95)
    assert s.p99 == pytest.approx(p99)
    assert s.max == pytest.approx(data.max())
    assert s.min == pytest.approx(data.min())
    assert s.mean == pytest.approx(data.mean())
    assert stats.total == pytest.approx(data.sum())


def test_exact_values_on_1_to_100() -> None:
    stats = LatencyStats()
    stats.extend(range(1, 101))
    s = stats.summary()
    assert (s.p50, s.p95, s.p99, s.max, s.mean) == pytest.approx((50.5, 95.05, 99.01, 100.0, 50.5))
    assert stats.quantiles([0.0, 1.0]) == [1.0, 100.0]


def test_window_keeps_recent_samples_and_lifetime_totals() -> None:
    stats = LatencyStats(window=10)
    stats.extend(range(25))
    stats.add(100.0)
    np.testing.assert_array_equal(stats.values(), [*range(16, 25), 100.0])
    assert stats.count == 26
    assert stats.total == pytest.approx(sum(range(25)) + 100)
    assert stats.summary().count == 10
    # A bulk extend longer than the window keeps only its tail, in order.
    stats.extend(np.arange(1000, 1015))
    np.testing.assert_array_equal(stats.values(), np.arange(1005, 1015))


def test_empty_and_invalid() -> None:
    stats = LatencyStats()
    s = stats.summary()
    assert s.count == 0 and math.isnan(s.p99)
    assert s.to_dict()["p99"] is None
    assert LatencySummary.empty().count == 0
    with pytest.raises(ValueError):
        stats.add(float("nan"))
    with pytest.raises(ValueError):
        stats.extend([1.0, float("inf")])
    with pytest.raises(ValueError):
        LatencyStats(window=0)


def test_concurrent_adds_are_all_counted() -> None:
    stats = LatencyStats()

    def work() -> None:
        for i in range(2000):
            stats.add(i)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stats.count == 8000 == stats.values().size


def test_latency_book_from_frames() -> None:
    book = LatencyBook()
    for i in range(10):
        timing = FrameTiming(i * 100_000_000)
        timing.add("fusion", timing.origin_ns, timing.origin_ns + 1_000_000)
        timing.add("vision", timing.origin_ns + 2_000_000, timing.origin_ns + (10 + i) * 1_000_000)
        timing.published_ns = timing.origin_ns + (12 + i) * 1_000_000
        book.add_frame(timing)
    assert book.stages() == ["fusion", "vision"]
    summaries = book.summaries()
    assert list(summaries) == ["fusion", "vision", E2E]
    assert summaries["fusion"].p99 == pytest.approx(1.0)
    assert summaries[E2E].max == pytest.approx(21.0)
    assert summaries[E2E].p50 == pytest.approx(np.percentile(np.arange(12, 22), 50))
