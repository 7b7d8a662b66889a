"""A single-threaded executor over the subscriptions and timers of one or more managed nodes.

Like rclpy's SingleThreadedExecutor, callbacks of the nodes it owns never run concurrently.
Ready samples are served in global arrival order, which makes an inproc run deterministic.
Subscriptions of nodes that are not active are left untouched: their keep-last queues hold the
newest samples, so a standby that is activated starts from fresh data.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edge_llm_ros.transport.bus import Sample, Subscription, TransportError

_log = logging.getLogger(__name__)


@dataclass
class _SubscriptionEntry:
    subscription: Subscription
    handler: Callable[[Sample], None]
    is_enabled: Callable[[], bool]


@dataclass(order=True)
class _TimerEntry:
    due: float
    order: int
    period_s: float = field(compare=False)
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class TimerHandle:
    """Returned by `Executor.create_timer`; `cancel()` stops it."""

    def __init__(self, entry: _TimerEntry) -> None:
        self._entry = entry

    def cancel(self) -> None:
        """Stop the timer; a callback already running completes."""
        self._entry.cancelled = True


class Executor:
    """Runs subscription and timer callbacks on the calling thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._subscriptions: list[_SubscriptionEntry] = []
        self._timers: list[_TimerEntry] = []
        self._order = itertools.count()
        self._wakeups = 0
        self.callback_errors = 0

    def notify(self) -> None:
        """Wake the executor: a sample arrived or a node changed state. Safe from any thread."""
        with self._cond:
            self._wakeups += 1
            self._cond.notify_all()

    def add_subscription(
        self, subscription: Subscription, handler: Callable[[Sample], None], is_enabled: Callable[[], bool]
    ) -> None:
        """Serve `subscription` with `handler` whenever `is_enabled()` is true."""
        with self._cond:
            self._subscriptions.append(_SubscriptionEntry(subscription, handler, is_enabled))

    def remove_subscription(self, subscription: Subscription) -> None:
        """Stop serving `subscription`."""
        with self._cond:
            self._subscriptions = [e for e in self._subscriptions if e.subscription is not subscription]

    def create_timer(self, period_s: float, callback: Callable[[], None]) -> TimerHandle:
        """Call `callback` every `period_s` seconds of monotonic time."""
        if period_s <= 0:
            raise ValueError(f"timer period must be > 0, got {period_s}")
        entry = _TimerEntry(time.monotonic() + period_s, next(self._order), period_s, callback)
        with self._cond:
            heapq.heappush(self._timers, entry)
            self._cond.notify_all()
        return TimerHandle(entry)

    def _next_ready(self) -> tuple[_SubscriptionEntry, int] | None:
        best: tuple[_SubscriptionEntry, int] | None = None
        for entry in list(self._subscriptions):
            if not entry.is_enabled():
                continue
            arrival = entry.subscription.queue.peek_arrival()
            if arrival is not None and (best is None or arrival < best[1]):
                best = (entry, arrival)
        return best

    def _due_timer(self, now: float) -> _TimerEntry | None:
        with self._cond:
            while self._timers and self._timers[0].cancelled:
                heapq.heappop(self._timers)
            if self._timers and self._timers[0].due <= now:
                entry = heapq.heappop(self._timers)
                # Next due from the schedule, not from now, so timers do not drift; skip missed ticks.
                entry.due += entry.period_s * max(1, int((now - entry.due) // entry.period_s) + 1)
                heapq.heappush(self._timers, entry)
                return entry
        return None

    def _run(self, callback: Callable[[], None]) -> None:
        try:
            callback()
        except TransportError as exc:
            # The middleware's state (a closed session, rclpy's context shut down by Ctrl-C), not a
            # bug of the callback: one line, no traceback.
            self.callback_errors += 1
            _log.warning("callback could not use the transport: %s", exc)
        except Exception:
            self.callback_errors += 1
            _log.exception("callback raised; the node keeps running")

    def _run_one_ready(self) -> bool:
        timer = self._due_timer(time.monotonic())
        if timer is not None:
            self._run(timer.callback)
            return True
        ready = self._next_ready()
        if ready is None:
            return False
        entry = ready[0]
        sample = entry.subscription.take(0.0)
        if sample is not None:
            self._run(lambda: entry.handler(sample))
        return True

    def spin_once(self, timeout_s: float | None = 0.0) -> bool:
        """Run at most one callback, waiting up to `timeout_s` for work. Returns whether one ran."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            with self._cond:
                seen = self._wakeups
            if self._run_one_ready():
                return True
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return False
            wait = None if deadline is None else deadline - now
            with self._cond:
                if self._timers:
                    until_timer = max(0.0, self._timers[0].due - now)
                    wait = until_timer if wait is None else min(wait, until_timer)
                # A notify after `seen` was read means new work: rescan instead of sleeping.
                if self._wakeups == seen:
                    self._cond.wait(wait)

    def spin_until_idle(self, max_callbacks: int = 1_000_000) -> int:
        """Run ready subscription callbacks until none is ready (timers not waited for)."""
        ran = 0
        while ran < max_callbacks:
            if self._next_ready() is None:
                return ran
            if self._run_one_ready():
                ran += 1
        return ran

    def spin(self, stop: threading.Event, poll_s: float = 0.05) -> None:
        """Run callbacks until `stop` is set."""
        while not stop.is_set():
            self.spin_once(poll_s)


class ExecutorThread:
    """Spin an executor on a background thread; `stop()` joins it."""

    def __init__(self, executor: Executor, name: str = "executor") -> None:
        self.executor = executor
        self._stop = threading.Event()
        self._thread = threading.Thread(target=executor.spin, args=(self._stop,), name=name, daemon=True)

    def start(self) -> ExecutorThread:
        """Start spinning."""
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop spinning and wait for the current callback to finish."""
        self._stop.set()
        self.executor.notify()
        self._thread.join(timeout_s)
