"""The black-box recorder: the recent traffic of a process's nodes, written as a rosbag2 on a trigger.

The topics of the nodes a process hosts go into a bounded ring; the window is written as a
rosbag2 on a BRAKE decision, a failover, a rollback or an operator request.

It taps the bus, not the nodes: every input and output of the hosted nodes crosses the bus, so one
tap per process holds each node's recent inputs and outputs without touching node code, and the
bytes it keeps are the exact CDR the nodes received. Samples are taken on the transport thread
(`on_ready`), never through the executor, so the tap cannot delay or reorder the pipeline's work.

The dump is a normal bag: the sensor topics replay through `edge-llm-ros replay DUMP` (the closed
loop is deterministic, so the frames in the window are decided as they were), and the pipeline's
own outputs (decisions, detections, timings) are there to compare against. Dumps are written on a
background thread; `dump()` (the operator's request) returns once the bag is complete.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from edge_llm_ros._compat import UTC, StrEnum
from edge_llm_ros.bags.writer import BagWriter
from edge_llm_ros.nodes import topics
from edge_llm_ros.ops.blackbox.ring import Entry, MessageRing
from edge_llm_ros.transport.bus import Bus, BusNode, Subscription
from edge_llm_ros.transport.qos import History, QoSProfile, Reliability

_log = logging.getLogger(__name__)

#: Best effort matches every publisher (reliable or not); the queue only bridges to on_ready.
TAP_QOS = QoSProfile(reliability=Reliability.BEST_EFFORT, history=History.KEEP_LAST, depth=64)
METADATA_KEY = "edge_llm_ros.blackbox"
#: The pipeline's own topics, tapped next to the sensor inputs.
OUTPUT_TOPICS: tuple[tuple[str, str], ...] = (
    (topics.FUSED_SCENE_TOPIC, topics.STRING),
    (topics.PROPOSALS_TOPIC, topics.DETECTIONS),
    (topics.DETECTIONS_TOPIC, topics.DETECTIONS),
    (topics.DECISION_TOPIC, topics.STRING),
    (topics.TIMING_TOPIC, topics.STRING),
    (topics.ADVISORY_TOPIC, topics.STRING),
)


class Trigger(StrEnum):
    """Why a window was written."""

    BRAKE = "brake"
    FAILOVER = "failover"
    ROLLBACK = "rollback"
    OPERATOR = "operator"


@dataclass
class BlackBoxConfig:
    """Bounds and triggers."""

    out_dir: Path
    window_s: float = 10.0
    max_bytes: int = 256 * 1024 * 1024
    triggers: frozenset[Trigger] = frozenset(Trigger)
    #: One automatic dump per trigger kind per this many seconds (a BRAKE lasts many frames).
    min_interval_s: float = 30.0
    #: Dumps kept in out_dir; the oldest go first.
    max_dumps: int = 20
    extra_topics: Sequence[tuple[str, str]] = field(default_factory=tuple)


def bag_input_topics(bag: Path) -> list[tuple[str, str]]:
    """The sensor topics of a recorded drive (what a replay publishes)."""
    from edge_llm_ros.bags.reader import BagReader

    with BagReader(bag) as reader:
        return sorted((t, ty) for t, ty in reader.topics.items() if ty in topics.SENSOR_INPUT_TYPES)


def sensor_topics(params_document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The sensor topics of a scene's params document (sensor_fusion's cameras, radar, GPS)."""
    section = (params_document.get("sensor_fusion") or {}).get("ros__parameters") or {}
    found: list[tuple[str, str]] = []
    for camera in section.get("cameras") or ["camera"]:
        image, info = topics.camera_topics(str(camera))
        found += [(image, topics.IMAGE), (info, topics.CAMERA_INFO)]
    radar = section.get("radar_topic", "/radar/tracks")
    gps = section.get("gps_topic", "/gps/fix")
    if radar:
        found.append((str(radar), topics.RADAR_TRACKS))
    if gps:
        found.append((str(gps), topics.NAV_SAT_FIX))
    return found


class BlackBoxRecorder:
    """Ring of the tapped topics plus the dump triggers. `close()` it (waits for pending dumps)."""

    def __init__(self, bus: Bus, config: BlackBoxConfig, tapped: Iterable[tuple[str, str]]) -> None:
        self.config = config
        self.ring = MessageRing(config.window_s, config.max_bytes)
        self.config.out_dir.mkdir(parents=True, exist_ok=True)
        self._bus = bus
        self._node: BusNode = bus.create_node(f"blackbox_{bus.pid}")
        self._types: dict[str, str] = {}
        self._subs: list[Subscription] = []
        self._last_dump: dict[Trigger, float] = {}
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="blackbox-writer")
        self._pending: list[Future[Path | None]] = []
        self.dumps: list[Path] = []
        self._closed = False
        for topic, typename in [*tapped, *OUTPUT_TOPICS, *config.extra_topics]:
            if topic not in self._types:
                self._types[topic] = typename
                self._subs.append(self._tap(topic, typename))

    # ------------------------------------------------------------------ tap
    def _tap(self, topic: str, typename: str) -> Subscription:
        holder: list[Subscription] = []
        is_decision = topic == topics.DECISION_TOPIC

        def ready() -> None:
            if not holder:
                return
            while (sample := holder[0].take(0.0)) is not None:
                self.ring.append(Entry(topic, typename, time.time_ns(), bytes(sample.data)))
                if is_decision:
                    self._check_decision(sample.data)

        sub = self._node.create_subscription(topic, typename, TAP_QOS, on_ready=ready)
        holder.append(sub)
        ready()
        return sub

    def _check_decision(self, data: bytes) -> None:
        if Trigger.BRAKE not in self.config.triggers:
            return
        try:
            record = json.loads(self._bus.codec.deserialize(data, topics.STRING).data)
        except ValueError:
            return
        if isinstance(record, dict) and record.get("action") == "BRAKE":
            self.trigger(Trigger.BRAKE, {"stamp_ns": record.get("stamp_ns")})

    # ------------------------------------------------------------------ triggers
    def trigger(self, reason: Trigger, details: Mapping[str, Any] | None = None) -> Future[Path | None] | None:
        """An automatic trigger: dumps unless disabled or rate-limited; returns the pending dump."""
        if reason not in self.config.triggers:
            return None
        now = time.monotonic()
        with self._lock:
            last = self._last_dump.get(reason)
            if last is not None and now - last < self.config.min_interval_s:
                return None
            self._last_dump[reason] = now
        return self._submit(reason, details or {})

    def dump(self, reason: Trigger | str = Trigger.OPERATOR, details: Mapping[str, Any] | None = None) -> Path | None:
        """Write the current window now (operator request; not rate-limited); the bag's path, None if empty."""
        return self._submit(Trigger(reason), details or {}).result(timeout=120.0)

    def watch_manager(self, counters: Callable[[], Mapping[str, int]], period_s: float = 0.1) -> None:
        """Dump on every new failover or rollback the manager counts (polled on a daemon thread)."""
        initial = dict(counters())

        def watch() -> None:
            seen = initial
            while not self._closed:
                time.sleep(period_s)
                try:
                    now = dict(counters())
                except Exception:  # a manager mid-shutdown; the next poll decides
                    continue
                for key, reason in (("failovers", Trigger.FAILOVER), ("rollbacks", Trigger.ROLLBACK)):
                    if now.get(key, 0) > seen.get(key, 0):
                        self.trigger(reason, {key: now.get(key, 0)})
                seen = now

        threading.Thread(target=watch, name="blackbox-manager-watch", daemon=True).start()

    def _submit(self, reason: Trigger, details: Mapping[str, Any]) -> Future[Path | None]:
        if self._closed:
            done: Future[Path | None] = Future()
            done.set_result(None)
            return done
        window = self.ring.snapshot()  # now: what follows the trigger is not part of this dump
        future = self._writer.submit(self._write, window, reason, dict(details))
        with self._lock:
            self._pending = [f for f in self._pending if not f.done()] + [future]
        return future

    # ------------------------------------------------------------------ writing
    def _write(self, window: list[Entry], reason: Trigger, details: dict[str, Any]) -> Path | None:
        if not window:
            _log.warning("black box: %s trigger with an empty window, nothing written", reason.value)
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S_%fZ")
        path = self.config.out_dir / f"blackbox_{stamp}_{_slug(reason.value)}"
        meta = {
            "reason": reason.value,
            "details": details,
            "window_s": self.config.window_s,
            "first_ns": window[0].stamp_ns,
            "last_ns": window[-1].stamp_ns,
            "messages": len(window),
            "bytes": sum(len(e.data) for e in window),
            "topics": sorted({e.topic for e in window}),
        }
        try:
            with BagWriter(path) as writer:
                for topic in sorted({e.topic for e in window}):
                    writer.add_topic(topic, self._types[topic])
                writer.set_custom_data(METADATA_KEY, json.dumps(meta, sort_keys=True, default=str))
                for entry in window:
                    writer.write_raw(entry.topic, entry.stamp_ns, entry.data)
        except Exception:
            _log.exception("black box: writing %s failed", path)
            shutil.rmtree(path, ignore_errors=True)
            return None
        _log.warning("black box: %s window (%d messages) written to %s", reason.value, len(window), path)
        with self._lock:
            self.dumps.append(path)
            self._prune()
        return path

    def _prune(self) -> None:
        existing = sorted(p for p in self.config.out_dir.glob("blackbox_*") if p.is_dir())
        for old in existing[: max(0, len(existing) - self.config.max_dumps)]:
            shutil.rmtree(old, ignore_errors=True)

    def close(self, timeout_s: float = 60.0) -> None:
        """Stop tapping, finish pending dumps (bounded), leave the bus. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for sub in self._subs:
            sub.close()
        self._node.close()
        with self._lock:
            pending = list(self._pending)
        deadline = time.monotonic() + timeout_s
        for future in pending:
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
            except Exception:  # a failed or late dump is logged by the writer; close must not raise
                _log.warning("black box: a dump did not finish before close")
        self._writer.shutdown(wait=False, cancel_futures=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)[:40]


def read_dump_metadata(path: Path) -> dict[str, Any]:
    """The recorder's metadata of a dump (reason, window, topics) from its metadata.yaml."""
    import yaml

    info = yaml.safe_load((Path(path) / "metadata.yaml").read_text(encoding="utf-8"))
    custom = info["rosbag2_bagfile_information"].get("custom_data") or {}
    result: dict[str, Any] = json.loads(custom[METADATA_KEY])
    return result
