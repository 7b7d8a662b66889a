"""Exact-time pairing of messages from several topics (message_filters' TimeSynchronizer).

Stages publish one message per source frame stamped with that frame's stamp, so matching on
(stamp, camera) is exact. Unmatched entries are evicted oldest-first once `max_pending` frames
wait, and counted, so a lost message never leaks memory or stalls the stage.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any


class ExactTimeSync:
    """Collects one value per slot for each key; returns the full tuple when complete."""

    def __init__(self, slots: Sequence[str], max_pending: int = 16) -> None:
        if len(slots) < 2:
            raise ValueError("need at least two slots to synchronise")
        self.slots = tuple(slots)
        self.max_pending = max_pending
        self._pending: OrderedDict[Hashable, dict[str, Any]] = OrderedDict()
        self.counters: Counter[str] = Counter()

    def add(self, slot: str, key: Hashable, value: Any) -> tuple[Any, ...] | None:
        """Store `value` for `key`; returns values in slot order once every slot has one."""
        if slot not in self.slots:
            raise KeyError(f"unknown slot {slot!r}; slots: {self.slots}")
        entry = self._pending.get(key)
        if entry is None:
            entry = self._pending[key] = {}
            while len(self._pending) > self.max_pending:
                _, evicted = self._pending.popitem(last=False)
                for missing in set(self.slots) - set(evicted):
                    self.counters[f"unmatched:{missing}"] += 1
        if slot in entry:
            # The first message of a (stamp, camera) wins: a later duplicate is a replay or a
            # fault, and the upstream stages already acted on the first one.
            self.counters[f"duplicate:{slot}"] += 1
            return None
        entry[slot] = value
        if len(entry) == len(self.slots):
            del self._pending[key]
            return tuple(entry[s] for s in self.slots)
        return None

    def pop_where(self, predicate: Callable[[dict[str, Any]], bool]) -> list[tuple[Hashable, dict[str, Any]]]:
        """Remove and return the incomplete entries (slot -> value) for which `predicate` holds."""
        expired = [(k, v) for k, v in self._pending.items() if predicate(v)]
        for k, _ in expired:
            del self._pending[k]
        return expired

    def __len__(self) -> int:
        return len(self._pending)
