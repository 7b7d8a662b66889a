"""Per-frame stage timing: the sensor stamp plus (stage, start, end) spans, and the wire form they travel in.

A frame's timing is created where the sensor sample enters the pipeline (fusion) and every stage
appends a span; transport hops are spans named ``hop:<topic>`` measured from the publisher's source
timestamp to the receive time. End-to-end latency is decision publish time minus the sensor stamp.

Clocks. Spans are measured on a *timing clock* (default ``time.time_ns``, comparable across
processes on one host). The sensor stamp is in the *sensor clock* domain, which is the same wall
clock on a live system but bag time under ``use_sim_time``. ``origin_ns`` is the sensor stamp
expressed on the timing clock; under sim time it is fixed once at ingest as
``timing_now - (sim_now - sensor_stamp)``, so every later figure is a wall-clock difference and the
latency stays right whatever rate the bag plays at (and however coarse /clock is).

Wire form (``to_dict``/``to_json``), version 1, compact because it rides in every decision::

    {"v": 1, "sensor_ns": 1700000000123456789, "origin_ns": 1700000000123456789,
     "spans": [["fusion", 180000, 1350000], ["hop:/edge_llm/rois", 1400000, 1650000], ...],
     "published_ns": 14250000}

``origin_ns`` is omitted when it equals ``sensor_ns``; span bounds and ``published_ns`` are
nanosecond offsets from ``origin_ns`` (small integers, lossless). Embed the dict in a JSON record
(the decision record in std_msgs/String) or the string in a diagnostic_msgs/KeyValue value.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

Clock = Callable[[], int]
"""A clock returns integer nanoseconds; inject one for sim time or deterministic tests."""

WIRE_VERSION = 1
HOP_PREFIX = "hop:"
# Bounds that make a hostile or corrupted timing payload a rejection, not a memory problem.
MAX_SPANS = 256
MAX_NAME_LEN = 128
MAX_WIRE_BYTES = 64 * 1024


class StampsError(ValueError):
    """A timing payload that is malformed, or an operation on inconsistent timings."""


def wall_clock() -> int:
    """Wall time in ns (``time.time_ns``): comparable across processes on one host."""
    return time.time_ns()


class ManualClock:
    """A clock that moves only when told to: deterministic tests and stepped simulations."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = int(start_ns)

    def __call__(self) -> int:
        """The current time in ns."""
        return self._now

    def advance(self, delta_ns: int) -> int:
        """Move forward by `delta_ns` (>= 0) and return the new time."""
        if delta_ns < 0:
            raise ValueError("a clock does not run backwards")
        self._now += int(delta_ns)
        return self._now

    def set(self, now_ns: int) -> None:
        """Jump to `now_ns` (a sim clock may be reset when a bag loops)."""
        self._now = int(now_ns)


@dataclass(frozen=True, slots=True)
class StageSpan:
    """One stage (or transport hop) of one frame, on the timing clock."""

    name: str
    start_ns: int
    end_ns: int

    @property
    def duration_ns(self) -> int:
        """End minus start."""
        return self.end_ns - self.start_ns

    @property
    def is_hop(self) -> bool:
        """Whether this span is a transport hop rather than compute."""
        return self.name.startswith(HOP_PREFIX)


def hop_name(topic: str) -> str:
    """The span name used for a transport hop over `topic`."""
    return f"{HOP_PREFIX}{topic}"


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LEN:
        raise StampsError(f"stage name must be a non-empty string of <= {MAX_NAME_LEN} chars, got {name!r}")
    return name


def _check_int(value: object, what: str) -> int:
    # bool is an int subclass; a JSON true where a stamp belongs is corruption, not 1 ns.
    if not isinstance(value, int) or isinstance(value, bool):
        raise StampsError(f"{what} must be an integer number of ns, got {value!r}")
    return value


@dataclass
class FrameTiming:
    """Timing of one frame through the pipeline; see the module docstring for clocks and wire form."""

    sensor_stamp_ns: int
    origin_ns: int = -1
    spans: list[StageSpan] = field(default_factory=list)
    published_ns: int | None = None

    def __post_init__(self) -> None:
        _check_int(self.sensor_stamp_ns, "sensor_stamp_ns")
        if self.origin_ns == -1:
            self.origin_ns = self.sensor_stamp_ns
        _check_int(self.origin_ns, "origin_ns")

    @classmethod
    def begin(
        cls, sensor_stamp_ns: int, *, clock: Clock = wall_clock, sensor_clock_now_ns: int | None = None
    ) -> FrameTiming:
        """Start timing a frame stamped `sensor_stamp_ns`.

        Pass `sensor_clock_now_ns` (the node's ROS time, e.g. sim time) when sensor stamps are not
        on `clock`: the frame's age on the sensor clock is then carried over to the timing clock.
        """
        if sensor_clock_now_ns is None:
            return cls(sensor_stamp_ns)
        age = sensor_clock_now_ns - sensor_stamp_ns
        return cls(sensor_stamp_ns, origin_ns=clock() - age)

    def add(self, name: str, start_ns: int, end_ns: int) -> StageSpan:
        """Append a span measured elsewhere; end before start is refused."""
        span = StageSpan(_check_name(name), _check_int(start_ns, "start_ns"), _check_int(end_ns, "end_ns"))
        if span.end_ns < span.start_ns:
            raise StampsError(f"span {name!r} ends before it starts ({start_ns} > {end_ns})")
        if len(self.spans) >= MAX_SPANS:
            raise StampsError(f"more than {MAX_SPANS} spans on one frame")
        self.spans.append(span)
        return span

    @contextmanager
    def stage(self, name: str, clock: Clock = wall_clock) -> Iterator[None]:
        """Time the body as stage `name`; the span is kept even if the body raises (time was spent)."""
        start = clock()
        try:
            yield
        finally:
            self.add(name, start, clock())

    def add_hop(self, topic: str, sent_ns: int, received_ns: int) -> StageSpan:
        """Record a transport hop from the publisher's source timestamp to our receive time.

        Across hosts the two clocks may disagree slightly; a negative difference is clamped to
        zero rather than refused so that a small skew never drops a frame's timing.
        """
        return self.add(hop_name(topic), sent_ns, max(sent_ns, received_ns))

    def mark_published(self, clock: Clock = wall_clock) -> int:
        """Record the decision publish time (timing clock) and return it."""
        self.published_ns = clock()
        return self.published_ns

    def e2e_ns(self, publish_ns: int | None = None) -> int:
        """Sensor-to-decision latency: publish time minus the sensor stamp (on the timing clock)."""
        end = self.published_ns if publish_ns is None else publish_ns
        if end is None:
            raise StampsError("frame not published yet: pass publish_ns or call mark_published()")
        return end - self.origin_ns

    def stage_durations_ns(self) -> dict[str, int]:
        """Duration per stage name, in first-seen order; repeated names (retries, two hops) add up."""
        durations: dict[str, int] = {}
        for span in self.spans:
            durations[span.name] = durations.get(span.name, 0) + span.duration_ns
        return durations

    def summary_ms(self) -> dict[str, Any]:
        """Human-readable figures for a decision record: e2e and per-stage milliseconds."""
        out: dict[str, Any] = {"stages_ms": {k: round(v / 1e6, 3) for k, v in self.stage_durations_ns().items()}}
        if self.published_ns is not None:
            out["e2e_ms"] = round(self.e2e_ns() / 1e6, 3)
        return out

    def merge(self, other: FrameTiming) -> FrameTiming:
        """Union of two timings of the same frame (e.g. detections and fused scene at the decision node).

        Spans present in both (the shared upstream stages) appear once; the result keeps our
        origin and the later publish time.
        """
        if other.sensor_stamp_ns != self.sensor_stamp_ns:
            raise StampsError(
                f"cannot merge timings of different frames ({self.sensor_stamp_ns} vs {other.sensor_stamp_ns})"
            )
        seen = set(self.spans)
        spans = list(self.spans) + [s for s in other.spans if s not in seen]
        published = [p for p in (self.published_ns, other.published_ns) if p is not None]
        merged = FrameTiming(self.sensor_stamp_ns, self.origin_ns, [], max(published) if published else None)
        for span in sorted(spans, key=lambda s: (s.start_ns, s.end_ns)):
            merged.add(span.name, span.start_ns, span.end_ns)
        return merged

    def copy(self) -> FrameTiming:
        """An independent copy (spans are immutable, the list is not)."""
        return FrameTiming(self.sensor_stamp_ns, self.origin_ns, list(self.spans), self.published_ns)

    def to_dict(self) -> dict[str, Any]:
        """The compact wire form (a JSON-ready dict)."""
        o = self.origin_ns
        out: dict[str, Any] = {"v": WIRE_VERSION, "sensor_ns": self.sensor_stamp_ns}
        if o != self.sensor_stamp_ns:
            out["origin_ns"] = o
        out["spans"] = [[s.name, s.start_ns - o, s.end_ns - o] for s in self.spans]
        if self.published_ns is not None:
            out["published_ns"] = self.published_ns - o
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FrameTiming:
        """Parse the wire form; anything malformed raises StampsError."""
        if not isinstance(data, Mapping):
            raise StampsError(f"timing must be a JSON object, got {type(data).__name__}")
        if data.get("v") != WIRE_VERSION:
            raise StampsError(f"unsupported timing version {data.get('v')!r} (expected {WIRE_VERSION})")
        sensor = _check_int(data.get("sensor_ns"), "sensor_ns")
        origin = _check_int(data.get("origin_ns", sensor), "origin_ns")
        raw_spans = data.get("spans", [])
        if not isinstance(raw_spans, list) or len(raw_spans) > MAX_SPANS:
            raise StampsError(f"spans must be a list of at most {MAX_SPANS} entries")
        timing = cls(sensor, origin)
        for entry in raw_spans:
            if not isinstance(entry, list) or len(entry) != 3:
                raise StampsError(f"span must be [name, start, end], got {entry!r}")
            name, start, end = entry
            timing.add(name, origin + _check_int(start, "span start"), origin + _check_int(end, "span end"))
        if "published_ns" in data:
            timing.published_ns = origin + _check_int(data["published_ns"], "published_ns")
        return timing

    def to_json(self) -> str:
        """The wire form as a compact JSON string (for std_msgs/String or a KeyValue value)."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> FrameTiming:
        """Parse `to_json` output; malformed or oversized input raises StampsError."""
        if len(text) > MAX_WIRE_BYTES:
            raise StampsError(f"timing payload of {len(text)} bytes exceeds {MAX_WIRE_BYTES}")
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StampsError(f"timing is not valid JSON: {exc}") from exc
        return cls.from_dict(data)
