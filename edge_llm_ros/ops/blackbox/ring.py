"""A ring of recent serialized messages bounded both in time and in bytes."""

from __future__ import annotations

import threading
from collections import deque
from typing import NamedTuple


class Entry(NamedTuple):
    """One message as it crossed the bus: CDR bytes and when this process received it."""

    topic: str
    typename: str
    stamp_ns: int
    data: bytes


class MessageRing:
    """Keeps the messages of the last `window_s` seconds, and never more than `max_bytes` of payload.

    Time is the receive stamp of the newest message, so a paused pipeline keeps its last window
    instead of ageing it out. When the byte bound bites, the oldest messages go first (a 1 MB image
    stream at 10 Hz fills 64 MiB in ~6 s: size the bound for the window you want).
    """

    def __init__(self, window_s: float = 10.0, max_bytes: int = 256 * 1024 * 1024) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.window_ns = int(window_s * 1e9)
        self.max_bytes = int(max_bytes)
        self._entries: deque[Entry] = deque()
        self._bytes = 0
        self._last_ns = 0
        self._lock = threading.Lock()
        self.evicted = 0

    def append(self, entry: Entry) -> None:
        """Add a message and evict what falls outside the bounds; a message alone over `max_bytes` is refused."""
        size = len(entry.data)
        with self._lock:
            if size > self.max_bytes:
                self.evicted += 1
                return
            # Arrival order is the order the pipeline saw, and a replay of the dump must keep it:
            # stamps taken on different threads just before the lock may be out of order by a hair.
            if entry.stamp_ns < self._last_ns:
                entry = entry._replace(stamp_ns=self._last_ns)
            self._last_ns = entry.stamp_ns
            self._entries.append(entry)
            self._bytes += size
            horizon = entry.stamp_ns - self.window_ns
            while self._entries and (self._bytes > self.max_bytes or self._entries[0].stamp_ns < horizon):
                self._bytes -= len(self._entries.popleft().data)
                self.evicted += 1

    def snapshot(self) -> list[Entry]:
        """The current window, oldest first (a copy; the payloads are shared, they are immutable)."""
        with self._lock:
            return list(self._entries)

    @property
    def size_bytes(self) -> int:
        """Payload bytes held now."""
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
