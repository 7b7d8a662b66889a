"""/diagnostics content: diagnostic_msgs-shaped dataclasses, standard checks, and an updater.

The dataclasses mirror diagnostic_msgs/DiagnosticArray field for field, so nodes build plain
Python and only `to_ros`/`serialize` touch the message layer. The checks follow ROS
diagnostic_updater's conventions (status name ``"<node>: <check>"``, FrequencyStatus semantics)
so the usual tools (rqt_runtime_monitor, diagnostic_aggregator, `ros2 topic echo /diagnostics`)
read them as they read any ROS 2 driver's.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from edge_llm_ros.msgs import MessageCodec, get_codec
from edge_llm_ros.telemetry.latency_stats import LatencyStats
from edge_llm_ros.telemetry.stamps import Clock, wall_clock

ARRAY_TYPE = "diagnostic_msgs/msg/DiagnosticArray"
STATUS_TYPE = "diagnostic_msgs/msg/DiagnosticStatus"
KEYVALUE_TYPE = "diagnostic_msgs/msg/KeyValue"
HEADER_TYPE = "std_msgs/msg/Header"
TIME_TYPE = "builtin_interfaces/msg/Time"

Values = Mapping[str, Any] | Sequence[tuple[str, Any]]


class Level(enum.IntEnum):
    """diagnostic_msgs/DiagnosticStatus levels (the byte values on the wire)."""

    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3


def _text(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def _pairs(values: Values) -> tuple[tuple[str, str], ...]:
    items = values.items() if isinstance(values, Mapping) else values
    return tuple((str(k), _text(v)) for k, v in items)


@dataclass(frozen=True)
class StatusReport:
    """What a check returns; the updater adds the name and hardware id."""

    level: Level
    message: str
    values: tuple[tuple[str, str], ...] = ()

    @classmethod
    def make(cls, level: Level, message: str, values: Values = ()) -> StatusReport:
        """Build one with values from a mapping or pairs of any type (rendered as strings)."""
        return cls(Level(level), message, _pairs(values))


@dataclass(frozen=True)
class DiagnosticStatusData:
    """One diagnostic_msgs/DiagnosticStatus."""

    level: Level
    name: str
    message: str = ""
    hardware_id: str = ""
    values: tuple[tuple[str, str], ...] = ()

    def value_dict(self) -> dict[str, str]:
        """The key/values as a dict (later duplicates win)."""
        return dict(self.values)


@dataclass(frozen=True)
class DiagnosticArrayData:
    """One diagnostic_msgs/DiagnosticArray; `stamp_ns` is the header stamp."""

    stamp_ns: int
    status: tuple[DiagnosticStatusData, ...]
    frame_id: str = ""

    @property
    def worst_level(self) -> Level:
        """The highest level present (OK when empty), as diagnostic_aggregator rolls up."""
        return max((s.level for s in self.status), default=Level.OK)

    def by_name(self) -> dict[str, DiagnosticStatusData]:
        """Statuses keyed by name."""
        return {s.name: s for s in self.status}


def to_ros(array: DiagnosticArrayData, codec: MessageCodec | None = None) -> Any:
    """The rosbags DiagnosticArray message for `array` (serialise it with the same codec)."""
    c = codec or get_codec()
    time_cls, header_cls = c.msg_class(TIME_TYPE), c.msg_class(HEADER_TYPE)
    status_cls, kv_cls, array_cls = c.msg_class(STATUS_TYPE), c.msg_class(KEYVALUE_TYPE), c.msg_class(ARRAY_TYPE)
    sec, nanosec = divmod(int(array.stamp_ns), 1_000_000_000)
    return array_cls(
        header=header_cls(stamp=time_cls(sec=sec, nanosec=nanosec), frame_id=array.frame_id),
        status=[
            status_cls(
                level=int(s.level),
                name=s.name,
                message=s.message,
                hardware_id=s.hardware_id,
                values=[kv_cls(key=k, value=v) for k, v in s.values],
            )
            for s in array.status
        ],
    )


def from_ros(msg: Any) -> DiagnosticArrayData:
    """Back from a rosbags DiagnosticArray (e.g. one deserialised from the wire or a bag)."""
    stamp = msg.header.stamp
    return DiagnosticArrayData(
        stamp_ns=int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec),
        frame_id=msg.header.frame_id,
        status=tuple(
            DiagnosticStatusData(
                level=Level(int(s.level)),
                name=s.name,
                message=s.message,
                hardware_id=s.hardware_id,
                values=tuple((kv.key, kv.value) for kv in s.values),
            )
            for s in msg.status
        ),
    )


def serialize(array: DiagnosticArrayData, codec: MessageCodec | None = None) -> bytes:
    """CDR bytes of `array` as diagnostic_msgs/msg/DiagnosticArray, ready to publish."""
    c = codec or get_codec()
    return c.serialize(to_ros(array, c), ARRAY_TYPE)


def deserialize(data: bytes, codec: MessageCodec | None = None) -> DiagnosticArrayData:
    """Decode CDR bytes of a DiagnosticArray (raises CodecError when malformed)."""
    c = codec or get_codec()
    return from_ros(c.deserialize(data, ARRAY_TYPE))


class DiagnosticTask(Protocol):
    """A named check run by the updater."""

    name: str

    def run(self, now_ns: int) -> StatusReport:
        """The check's current status."""
        ...


class FrequencyStatus:
    """Checks that an event (a publish, a received frame) happens at the expected rate.

    Rate is events within the last `window_s` divided by the window (or by the time since
    start, while the first window fills). Like diagnostic_updater's FrequencyStatus: no events
    is ERROR, outside [min_hz*(1-tolerance), max_hz*(1+tolerance)] is WARN; before the first
    window has passed without any event, the state is STALE (not known yet).
    """

    def __init__(
        self,
        name: str = "frequency",
        *,
        min_hz: float,
        max_hz: float = math.inf,
        tolerance: float = 0.1,
        window_s: float = 5.0,
        clock: Clock = wall_clock,
    ) -> None:
        if not 0 < min_hz <= max_hz:
            raise ValueError(f"need 0 < min_hz <= max_hz, got {min_hz}, {max_hz}")
        if window_s <= 0:
            raise ValueError("window_s must be > 0")
        self.name = name
        self.min_hz, self.max_hz, self.tolerance = min_hz, max_hz, tolerance
        self._window_ns = int(window_s * 1e9)
        self._clock = clock
        self._start_ns = clock()
        self._events: deque[int] = deque()

    def tick(self, stamp_ns: int | None = None) -> None:
        """Record one event (now, or at `stamp_ns` on the same clock)."""
        self._events.append(self._clock() if stamp_ns is None else stamp_ns)

    def reset(self) -> None:
        """Forget events and restart the window (e.g. on lifecycle activate)."""
        self._events.clear()
        self._start_ns = self._clock()

    def _prune(self, now_ns: int) -> None:
        cutoff = now_ns - self._window_ns
        while self._events and self._events[0] <= cutoff:
            self._events.popleft()

    def rate_hz(self, now_ns: int | None = None) -> float:
        """Events per second over the current window."""
        now = self._clock() if now_ns is None else now_ns
        self._prune(now)
        span = min(self._window_ns, now - self._start_ns)
        return len(self._events) / (span / 1e9) if span > 0 else 0.0

    def run(self, now_ns: int) -> StatusReport:
        """The check's status at `now_ns`."""
        rate = self.rate_hz(now_ns)
        events = len(self._events)
        low, high = self.min_hz * (1 - self.tolerance), self.max_hz * (1 + self.tolerance)
        values = {
            "events in window": events,
            "window [s]": self._window_ns / 1e9,
            "actual frequency [Hz]": rate,
            "minimum acceptable frequency [Hz]": low,
            "maximum acceptable frequency [Hz]": high,
        }
        if events == 0:
            if now_ns - self._start_ns < self._window_ns:
                return StatusReport.make(Level.STALE, "waiting for the first event", values)
            return StatusReport.make(Level.ERROR, "no events recorded", values)
        if rate < low:
            return StatusReport.make(Level.WARN, f"frequency too low ({rate:.1f} Hz < {low:.1f} Hz)", values)
        if rate > high:
            return StatusReport.make(Level.WARN, f"frequency too high ({rate:.1f} Hz > {high:.1f} Hz)", values)
        return StatusReport.make(Level.OK, "desired frequency met", values)


class LatencyStatus:
    """Checks p99 latency against a budget: ERROR over budget, WARN above `warn_fraction` of it.

    Feed it with `observe`, or give it an existing LatencyStats (a NodeMetrics latency series)
    so the same samples drive /metrics and /diagnostics.
    """

    def __init__(
        self,
        name: str = "latency",
        *,
        budget_ms: float,
        warn_fraction: float = 0.8,
        stats: LatencyStats | None = None,
        window: int = 1000,
    ) -> None:
        if budget_ms <= 0 or not 0 < warn_fraction <= 1:
            raise ValueError("need budget_ms > 0 and 0 < warn_fraction <= 1")
        self.name = name
        self.budget_ms, self.warn_fraction = budget_ms, warn_fraction
        self.stats = stats if stats is not None else LatencyStats(window=window)

    def observe(self, ms: float) -> None:
        """Add one latency sample in ms."""
        self.stats.add(ms)

    def run(self, now_ns: int) -> StatusReport:
        """The check's status (now_ns is unused: the window is in samples, not time)."""
        s = self.stats.summary()
        if s.count == 0:
            return StatusReport.make(Level.STALE, "no latency samples yet", {"budget [ms]": self.budget_ms})
        values = {
            "samples": s.count,
            "p50 [ms]": s.p50,
            "p95 [ms]": s.p95,
            "p99 [ms]": s.p99,
            "max [ms]": s.max,
            "budget [ms]": self.budget_ms,
        }
        if s.p99 > self.budget_ms:
            return StatusReport.make(Level.ERROR, f"p99 {s.p99:.1f} ms over budget {self.budget_ms:g} ms", values)
        if s.p99 > self.warn_fraction * self.budget_ms:
            return StatusReport.make(Level.WARN, f"p99 {s.p99:.1f} ms near budget {self.budget_ms:g} ms", values)
        return StatusReport.make(Level.OK, f"p99 {s.p99:.1f} ms within budget", values)


class CounterStatus:
    """Counters (drops by reason, rejected inputs) with levels from how much they grew since last run.

    Counts come from `increment` or from `source` (a callable returning current totals, e.g.
    ``lambda: recorder.drops``). The increase since the previous run is compared with
    `warn_delta`/`error_delta` (None: that level is never raised).
    """

    def __init__(
        self,
        name: str = "counters",
        *,
        warn_delta: int | None = 1,
        error_delta: int | None = None,
        source: Callable[[], Mapping[str, int]] | None = None,
    ) -> None:
        self.name = name
        self.warn_delta, self.error_delta = warn_delta, error_delta
        self._source = source
        self._counts: dict[str, int] = {}
        self._last: dict[str, int] = {}

    def increment(self, key: str, count: int = 1) -> None:
        """Add `count` to counter `key`."""
        self._counts[key] = self._counts.get(key, 0) + count

    def totals(self) -> dict[str, int]:
        """Current totals (from the source when one was given)."""
        return dict(self._source()) if self._source is not None else dict(self._counts)

    def run(self, now_ns: int) -> StatusReport:
        """The check's status; remembers the totals for the next delta."""
        totals = self.totals()
        deltas = {k: v - self._last.get(k, 0) for k, v in totals.items()}
        self._last = totals
        grown = sum(d for d in deltas.values() if d > 0)
        values = [(k, f"{v} (+{deltas[k]})") for k, v in sorted(totals.items())]
        if self.error_delta is not None and grown >= self.error_delta:
            return StatusReport.make(Level.ERROR, f"{grown} new since last report", values)
        if self.warn_delta is not None and grown >= self.warn_delta:
            return StatusReport.make(Level.WARN, f"{grown} new since last report", values)
        return StatusReport.make(Level.OK, f"{sum(totals.values())} in total", values)


@dataclass
class _FunctionTask:
    name: str
    fn: Callable[[], StatusReport]

    def run(self, now_ns: int) -> StatusReport:
        return self.fn()


@dataclass
class DiagnosticUpdater:
    """Runs a node's checks and builds its DiagnosticArray, at most once per `period_s`.

    A check that raises becomes an ERROR status naming the exception: diagnostics must never
    take a node down.
    """

    node: str
    hardware_id: str = ""
    period_s: float = 1.0
    clock: Clock = wall_clock
    _tasks: list[DiagnosticTask] = field(default_factory=list, init=False)
    _last_ns: int | None = field(default=None, init=False)

    def add(self, task: DiagnosticTask) -> DiagnosticTask:
        """Register a check (FrequencyStatus, LatencyStatus, CounterStatus or your own)."""
        self._tasks.append(task)
        return task

    def add_function(self, name: str, fn: Callable[[], StatusReport]) -> None:
        """Register a plain function as a check called `name`."""
        self._tasks.append(_FunctionTask(name, fn))

    def due(self, now_ns: int | None = None) -> bool:
        """Whether a period has passed since the last update."""
        now = self.clock() if now_ns is None else now_ns
        return self._last_ns is None or now - self._last_ns >= self.period_s * 1e9

    def update(self, now_ns: int | None = None) -> DiagnosticArrayData:
        """Run every check now and return the array (the node publishes it)."""
        now = self.clock() if now_ns is None else now_ns
        self._last_ns = now
        statuses = []
        for task in self._tasks:
            try:
                report = task.run(now)
            except Exception as exc:  # a faulty check reports itself instead of killing the node
                report = StatusReport.make(Level.ERROR, f"check failed: {type(exc).__name__}: {exc}")
            statuses.append(
                DiagnosticStatusData(
                    level=report.level,
                    name=f"{self.node}: {task.name}",
                    message=report.message,
                    hardware_id=self.hardware_id,
                    values=report.values,
                )
            )
        return DiagnosticArrayData(stamp_ns=now, status=tuple(statuses))

    def maybe_update(self, now_ns: int | None = None) -> DiagnosticArrayData | None:
        """`update()` when due, else None: call it from any frequent timer or callback."""
        now = self.clock() if now_ns is None else now_ns
        return self.update(now) if self.due(now) else None
