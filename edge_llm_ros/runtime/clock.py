"""Clocks: wall time for live runs, a settable sim clock for replays (ROS use_sim_time)."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the time in nanoseconds since the epoch."""

    def now_ns(self) -> int:
        """Current time in ns."""
        ...


class SystemClock:
    """Wall-clock time (ROS RCL_SYSTEM_TIME)."""

    def now_ns(self) -> int:
        """Current wall time in ns."""
        return time.time_ns()


class SimClock:
    """Time set by a replay driver or /clock (ROS RCL_ROS_TIME with use_sim_time); never goes back."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        """The last time set."""
        return self._now

    def set(self, now_ns: int) -> None:
        """Advance to `now_ns`; earlier values are ignored so the clock is monotonic."""
        with self._lock:
            if now_ns > self._now:
                self._now = now_ns


def stamp_to_ns(stamp: object) -> int:
    """builtin_interfaces/Time (sec, nanosec) to ns."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)  # type: ignore[attr-defined]


def ns_to_stamp_fields(ns: int) -> tuple[int, int]:
    """Ns to (sec, nanosec) for builtin_interfaces/Time."""
    return ns // 1_000_000_000, ns % 1_000_000_000
