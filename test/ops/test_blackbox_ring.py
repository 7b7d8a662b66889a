"""The black-box ring keeps the last N seconds and never more than its byte bound."""

from __future__ import annotations

import pytest

from edge_llm_ros.ops.blackbox.ring import Entry, MessageRing


def _entry(t_s: float, size: int = 10, topic: str = "/t") -> Entry:
    return Entry(topic, "std_msgs/msg/String", int(t_s * 1e9), bytes(size))


def test_window_in_time() -> None:
    ring = MessageRing(window_s=2.0, max_bytes=10_000)
    for i in range(50):
        ring.append(_entry(i * 0.1))
    stamps = [e.stamp_ns / 1e9 for e in ring.snapshot()]
    assert stamps[-1] == pytest.approx(4.9)
    assert stamps[0] == pytest.approx(2.9)  # the last 2 s, both ends included
    assert ring.evicted == 29


def test_window_in_bytes() -> None:
    ring = MessageRing(window_s=60.0, max_bytes=1000)
    for i in range(30):
        ring.append(_entry(i * 0.1, size=100))
    assert ring.size_bytes == 1000
    assert len(ring) == 10
    assert ring.snapshot()[0].stamp_ns == int(2.0 * 1e9)


def test_oversize_message_is_refused_and_order_is_kept() -> None:
    ring = MessageRing(window_s=60.0, max_bytes=100)
    ring.append(_entry(1.0, size=50, topic="/a"))
    ring.append(_entry(2.0, size=500, topic="/big"))
    ring.append(_entry(0.5, size=10, topic="/late"))  # stamped just before the previous one
    assert [e.topic for e in ring.snapshot()] == ["/a", "/late"]
    assert [e.stamp_ns for e in ring.snapshot()] == [int(1e9), int(1e9)]


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window_s"):
        MessageRing(window_s=0)
    with pytest.raises(ValueError, match="max_bytes"):
        MessageRing(max_bytes=0)
