"""Store-and-forward for the reliable uplink streams: sequence numbers, cumulative acks, resends.

zenoh's reliability ends where a link does: a sample queued on a TCP connection that dies with a
cut uplink is gone, and routes to the cloud vanish with the link. So the vehicle numbers every
promised message (1, 2, 3, ... per stream), keeps it until the cloud acknowledges the highest
sequence it holds without a gap, and sends again what is unacknowledged: at once when the cloud
becomes reachable again, and after `resend_after_s` otherwise (a sample lost on the way). The
cloud keeps the first copy of each sequence and drops duplicates (`SequenceTracker`).

The buffer is bounded (`capacity` messages per stream, ~16 min of decisions at 10 Hz by
default); past it the oldest are dropped and counted in `overflowed`, which the vehicle reports.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class Entry:
    """One buffered message."""

    seq: int
    payload: bytes
    stamp_ns: int  # when the vehicle published it (wall clock, ns)
    last_sent: float = float("-inf")  # monotonic s; -inf = never sent
    sends: int = 0
    backoff: int = 0  # sends since the last flush: the resend wait doubles with each
    backlog: bool = False  # unacked when the current flush began
    flush_sent: bool = False  # sent by the current flush


class StoreAndForward:
    """Unacknowledged messages of one stream, oldest first (thread-safe)."""

    def __init__(self, capacity: int = 10_000, resend_after_s: float = 1.0, max_backoff_s: float = 4.0) -> None:
        self.capacity = capacity
        self.resend_after_s = resend_after_s
        self.max_backoff_s = max_backoff_s
        self._entries: OrderedDict[int, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.next_seq = 1
        self.acked = 0
        self.overflowed = 0
        self.max_depth = 0

    def add(self, payload: bytes, stamp_ns: int) -> Entry:
        """Buffer a new message under the next sequence number."""
        with self._lock:
            entry = Entry(self.next_seq, payload, stamp_ns)  # sent live: never part of a backlog
            self.next_seq += 1
            self._entries[entry.seq] = entry
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
                self.overflowed += 1
            self.max_depth = max(self.max_depth, len(self._entries))
            return entry

    def mark_sent(self, entry: Entry, now: float) -> None:
        """Record a transmission (first or resend)."""
        with self._lock:
            entry.last_sent = now
            entry.sends += 1
            entry.backoff += 1

    def ack(self, upto: int) -> int:
        """The cloud holds every sequence <= `upto`: forget them; returns how many were dropped."""
        with self._lock:
            if upto <= self.acked:
                return 0
            self.acked = upto
            dropped = 0
            while self._entries:
                seq = next(iter(self._entries))
                if seq > upto:
                    break
                del self._entries[seq]
                dropped += 1
            return dropped

    def due(self, now: float, limit: int, flushed_only: bool = False) -> list[Entry]:
        """Unacknowledged entries to send now: never sent, or not acked within their backoff.

        The wait doubles with each send since the last flush (resend_after_s, 2x, 4x, ... up to
        max_backoff_s), so a link that is down but not yet known to be down is not flooded with
        the whole buffer over and over. `flushed_only`: only entries the current flush sent.
        """
        with self._lock:
            out = []
            for entry in self._entries.values():
                if flushed_only and not (entry.backlog and entry.flush_sent):
                    continue  # during a flush, only what the flush already sent is resent
                wait = min(self.resend_after_s * 2 ** max(entry.backoff - 1, 0), self.max_backoff_s)
                if now - entry.last_sent >= wait:
                    out.append(entry)
                    if len(out) >= limit:
                        break
            return out

    def start_flush(self) -> None:
        """The cloud is reachable again: every unacked entry is to be sent once more, backoff reset."""
        with self._lock:
            for entry in self._entries.values():
                entry.backoff = 0
                entry.backlog, entry.flush_sent = True, False

    def flush_batch(self, window: int) -> list[Entry]:
        """The next entries (oldest first) of the flush, at most `window` unacknowledged at a time.

        [] when nothing may or needs to go now. The window paces the backlog by the cloud's acks,
        so it never outruns the uplink: a whole cut's backlog at once overflows zenoh's transmit
        queue (and on a slow link the socket), and what is dropped there waits for a resend.
        """
        with self._lock:
            # Only the backlog counts: live messages behind a gap are unacked too, and counting
            # them would close the window on the very messages that fill the gap.
            in_flight = sum(1 for e in self._entries.values() if e.backlog and e.flush_sent)
            limit = window - in_flight
            out: list[Entry] = []
            if limit <= 0:
                return out
            for entry in self._entries.values():
                if entry.backlog and not entry.flush_sent:
                    entry.flush_sent = True
                    out.append(entry)
                    if len(out) >= limit:
                        break
            return out

    def flushing(self) -> bool:
        """Entries remain that the current flush has not sent yet."""
        with self._lock:
            return any(e.backlog and not e.flush_sent for e in self._entries.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class SequenceTracker:
    """Cloud side of one (vehicle, stream): which sequences arrived; the contiguous prefix to ack."""

    def __init__(self) -> None:
        self.contiguous = 0
        self._above: set[int] = set()
        self.duplicates = 0

    def accept(self, seq: int) -> bool:
        """True the first time `seq` arrives, False for a duplicate."""
        if seq <= self.contiguous or seq in self._above:
            self.duplicates += 1
            return False
        self._above.add(seq)
        while self.contiguous + 1 in self._above:
            self.contiguous += 1
            self._above.discard(self.contiguous)
        return True

    @property
    def gaps(self) -> int:
        """Sequences above the contiguous prefix still missing below the highest seen."""
        return (max(self._above) - self.contiguous - len(self._above)) if self._above else 0
