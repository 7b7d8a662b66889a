"""Store-and-forward buffer and the cloud's sequence tracker (no network needed)."""

from __future__ import annotations

from edge_llm_ros.fleet.store_forward import SequenceTracker, StoreAndForward


def test_unacked_messages_are_resent_with_backoff_until_acknowledged() -> None:
    buffer = StoreAndForward(capacity=100, resend_after_s=1.0)
    entries = [buffer.add(f"m{i}".encode(), i) for i in range(5)]
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert len(buffer.due(now=0.0, limit=10)) == 5  # never sent: all due
    for entry in entries:
        buffer.mark_sent(entry, 0.0)
    assert buffer.due(now=0.5, limit=10) == []  # sent recently
    assert buffer.ack(3) == 3
    assert buffer.ack(2) == 0 and len(buffer) == 2  # a stale ack changes nothing
    assert [e.seq for e in buffer.due(now=1.5, limit=10)] == [4, 5]
    for entry in buffer.due(now=1.5, limit=10):
        buffer.mark_sent(entry, 1.5)
    assert buffer.due(now=3.0, limit=10) == []  # the second resend waits twice as long
    assert [e.seq for e in buffer.due(now=3.6, limit=10)] == [4, 5]
    buffer.ack(5)
    assert len(buffer) == 0 and buffer.max_depth == 5


def test_a_flush_sends_the_backlog_in_an_ack_paced_window() -> None:
    buffer = StoreAndForward(capacity=100, resend_after_s=1.0)
    for i in range(4):
        buffer.mark_sent(buffer.add(b"x", i), 0.0)  # sent before the cut, never acked
    buffer.start_flush()
    assert buffer.flushing()
    for i in range(5):  # live messages behind the backlog, unacked, must not close the window
        buffer.add(b"live", 10 + i)
    first = buffer.flush_batch(window=2)
    assert [e.seq for e in first] == [1, 2]
    assert buffer.flush_batch(window=2) == []  # two in flight: the window is full
    assert buffer.due(now=0.5, limit=10, flushed_only=True) == []  # backoff restarted at the flush
    for entry in first:
        buffer.mark_sent(entry, 0.5)
    buffer.ack(1)
    assert [e.seq for e in buffer.flush_batch(window=2)] == [3]
    assert [e.seq for e in buffer.due(now=1.6, limit=10, flushed_only=True)] == [2, 3]  # lost in flight
    buffer.ack(3)
    assert [e.seq for e in buffer.flush_batch(window=2)] == [4]
    assert not buffer.flushing()
    assert buffer.flush_batch(window=2) == []  # the live ones are not backlog


def test_capacity_drops_oldest_and_counts_them() -> None:
    buffer = StoreAndForward(capacity=3)
    for i in range(5):
        buffer.add(b"x", i)
    assert buffer.overflowed == 2
    assert [e.seq for e in buffer.due(0.0, 10)] == [3, 4, 5]


def test_tracker_acks_the_contiguous_prefix_and_drops_duplicates() -> None:
    tracker = SequenceTracker()
    assert [tracker.accept(s) for s in (1, 2, 4, 5)] == [True] * 4
    assert tracker.contiguous == 2 and tracker.gaps == 1
    assert tracker.accept(4) is False and tracker.accept(1) is False
    assert tracker.accept(3) is True
    assert tracker.contiguous == 5 and tracker.gaps == 0 and tracker.duplicates == 2
