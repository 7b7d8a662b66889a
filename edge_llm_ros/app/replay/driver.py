"""Publish a bag's sensor messages on a bus, paced or closed-loop, and collect the decisions.

Closed loop (`as_fast_as_possible`): after each camera frame the driver waits until the pipeline
is idle, so every frame is served and the run is deterministic; latency is then the pipeline's
own time per frame. Paced (`rate`): messages go out at the bag's timing; the executor runs on its
own thread, as on a vehicle, and late frames are dropped by deadlines.
The sensor-to-decision latency of a frame is measured from the moment the driver published it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_llm_ros.app.pipeline import Pipeline
from edge_llm_ros.bags.reader import BagReader
from edge_llm_ros.decision.record import DecisionDecodeError, DecisionRecord
from edge_llm_ros.nodes import topics
from edge_llm_ros.runtime.context import NodeContext, NodeOptions
from edge_llm_ros.runtime.executor import ExecutorThread
from edge_llm_ros.runtime.managed_node import ManagedNode
from edge_llm_ros.transport.bus import Capability, MessageInfo, Publisher
from edge_llm_ros.transport.qos import SENSOR_DATA, History, QoSProfile, Reliability

GROUND_TRUTH_TOPIC = "/ground_truth/scene"
#: Closed-loop input QoS: nothing dropped (on zenoh: reliable with BLOCK congestion control).
CLOSED_LOOP_INPUT = QoSProfile(reliability=Reliability.RELIABLE, history=History.KEEP_ALL)

#: The bag's topics that are played into the pipeline.
INPUT_TYPES = topics.SENSOR_INPUT_TYPES


@dataclass
class ReplayResult:
    """Everything a report needs."""

    decisions: list[DecisionRecord] = field(default_factory=list)
    decision_cdr: list[tuple[int, bytes]] = field(default_factory=list)
    injected_ns: dict[int, int] = field(default_factory=dict)
    received_ns: dict[int, int] = field(default_factory=dict)
    truth: dict[int, dict[str, Any]] = field(default_factory=dict)
    advisories: list[dict[str, Any]] = field(default_factory=list)
    frames_published: int = 0
    wall_s: float = 0.0
    bad_decisions: int = 0


class _DecisionProbe(ManagedNode):
    """Subscribes to the decision topic like any downstream user would."""

    def attach(self, result: ReplayResult, on_decision: Callable[[], None]) -> None:
        self._result, self._on_decision = result, on_decision
        self.create_subscription(topics.DECISION_TOPIC, topics.STRING, self._on_msg, "decision", raw=True)
        self.create_subscription(topics.ADVISORY_TOPIC, topics.STRING, self._on_advisory, "decision")

    def _on_advisory(self, msg: Any, _info: MessageInfo) -> None:
        try:
            record = json.loads(msg.data)
            record["received_ns"] = time.time_ns()
            self._result.advisories.append(record)
        except ValueError:
            self._result.bad_decisions += 1

    def _on_msg(self, data: bytes, info: MessageInfo) -> None:
        msg = self.codec.deserialize(data, topics.STRING)
        try:
            record = DecisionRecord.from_json(msg.data)
        except DecisionDecodeError:
            self._result.bad_decisions += 1
            return
        self._result.decisions.append(record)
        self._result.decision_cdr.append((record.stamp_ns, data))
        self._result.received_ns[record.stamp_ns] = time.time_ns()
        self._on_decision()


class ReplayDriver:
    """Feeds one bag into a running pipeline.

    `pipeline` is the in-process pipeline whose executor this driver spins; for nodes in other
    processes pass `context` (whose executor already runs on a thread) instead, and the closed
    loop waits for each frame's decision to come back over the bus.
    """

    def __init__(
        self,
        pipeline: Pipeline | None,
        bag: Path,
        *,
        rate: float | None = None,
        max_frames: int | None = None,
        frame_timeout_s: float = 5.0,
        progress: Callable[[int], None] | None = None,
        context: NodeContext | None = None,
    ) -> None:
        if (pipeline is None) == (context is None):
            raise ValueError("give either an in-process pipeline or the context of a running executor")
        self.pipeline = pipeline
        self.bag = bag
        self.rate = rate
        self.max_frames = max_frames
        self.frame_timeout_s = frame_timeout_s
        self.progress = progress
        self.result = ReplayResult()
        self._decided = threading.Condition()
        self._spins_executor = pipeline is not None
        context = pipeline.context if pipeline is not None else context
        assert context is not None
        self.context = context
        self._source = context.bus.create_node("bag_player")
        self._probe = _DecisionProbe(context, NodeOptions("decision_listener"))
        self._probe.configure()
        self._probe.attach(self.result, self._notify)
        self._probe.activate()
        self._publishers: dict[str, Publisher] = {}

    def _notify(self) -> None:
        with self._decided:
            self._decided.notify_all()

    def _publisher(self, topic: str, typename: str) -> Publisher:
        if topic not in self._publishers:
            # Paced, the drive stands in for live sensors (best effort). Closed loop, a sample lost
            # on the way in (zenoh drops best-effort samples under congestion: a 1 MB image right
            # after start-up) would stall the loop until the frame times out: reliable, blocking.
            qos = SENSOR_DATA if self.rate is not None else CLOSED_LOOP_INPUT
            self._publishers[topic] = self._source.create_publisher(topic, typename, qos)
        return self._publishers[topic]

    def _wait_closed_loop(self, stamp_ns: int) -> None:
        deadline = time.monotonic() + self.frame_timeout_s
        if not self._spins_executor:
            with self._decided:
                while stamp_ns not in self.result.received_ns and time.monotonic() < deadline:
                    self._decided.wait(0.05)
            return
        assert self.pipeline is not None
        executor = self.context.executor
        while time.monotonic() < deadline:
            # spin_once sleeps on the executor's condition until a sample or timer is due, so
            # the batcher threads get the CPU instead of a busy loop.
            executor.spin_once(0.005)
            if stamp_ns in self.result.received_ns and self.pipeline.idle():
                executor.spin_until_idle()
                return
        # A frame the pipeline never decided stays missing; the report counts it.

    def run(self) -> ReplayResult:
        """Replay the bag; returns the decisions and timings."""
        closed_loop = self.rate is None
        spinner = None
        if not closed_loop and self._spins_executor:
            spinner = ExecutorThread(self.context.executor, "replay-executor").start()
        started = time.monotonic()
        first_bag_ns: int | None = None
        awaiting: list[tuple[int, int]] = []  # (bag time, header stamp) of frames not yet waited for
        try:
            with BagReader(self.bag) as reader:
                if not self._spins_executor:
                    self._await_subscribers(reader)
                for message in reader.messages():
                    if message.topic == GROUND_TRUTH_TOPIC:
                        text = reader.decode(message).data
                        record = json.loads(text)
                        self.result.truth[int(record["stamp_ns"])] = record
                        continue
                    if message.typename not in INPUT_TYPES:
                        continue
                    is_frame = message.typename == "sensor_msgs/msg/Image"
                    if is_frame and self.max_frames is not None and self.result.frames_published >= self.max_frames:
                        break
                    # Closed loop: a frame's decision is awaited only once everything recorded at
                    # the frame's time (e.g. the radar scan of the same instant) has been sent too.
                    while awaiting and message.stamp_ns > awaiting[0][0]:
                        self._wait_closed_loop(awaiting.pop(0)[1])
                    if not closed_loop:
                        first_bag_ns = first_bag_ns if first_bag_ns is not None else message.stamp_ns
                        due = started + (message.stamp_ns - first_bag_ns) / 1e9 / float(self.rate or 1.0)
                        if (delay := due - time.monotonic()) > 0:
                            time.sleep(delay)
                    publisher = self._publisher(message.topic, message.typename)
                    if is_frame:
                        stamp = self._frame_stamp(reader, message)
                        self.result.injected_ns[stamp] = time.time_ns()
                        self.result.frames_published += 1
                    publisher.publish_raw(message.data)
                    if is_frame:
                        if closed_loop:
                            awaiting.append((message.stamp_ns, stamp))
                        if self.progress:
                            self.progress(1)
                    elif closed_loop and self._spins_executor:
                        self.context.executor.spin_until_idle()
            for _, stamp in awaiting:
                self._wait_closed_loop(stamp)
            if not closed_loop:
                self._drain()
        finally:
            if spinner is not None:
                spinner.stop()
            self.result.wall_s = time.monotonic() - started
            self._probe.destroy()
            self._source.close()
        return self.result

    def _await_subscribers(self, reader: BagReader, timeout_s: float = 10.0, settle_s: float = 1.0) -> None:
        # Across processes a sample sent before a reader is matched is lost. The nodes declared
        # their subscriptions before the manager activated them, so wait (bounded) until every
        # input topic has readers and their number has stopped growing for `settle_s`; that also
        # gives the decision node's session time to learn of our own decision listener, which
        # nothing on this side can observe.
        inputs = [t for t, ty in reader.topics.items() if ty in INPUT_TYPES]
        pubs = [self._publisher(t, reader.topics[t]) for t in inputs]
        bus = self.context.bus
        counting = Capability.SUBSCRIPTION_COUNT in bus.capabilities
        deadline = time.monotonic() + timeout_s
        last: tuple[int, ...] | None = None
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            matched = all(p.has_subscribers for p in pubs)
            counts = tuple(bus.subscription_count(t) for t in inputs) if counting else ()
            if counts != last:
                last, stable_since = counts, time.monotonic()
            if matched and all(counts) and time.monotonic() - stable_since >= settle_s:
                return
            time.sleep(0.02)

    def _drain(self) -> None:
        deadline = time.monotonic() + self.frame_timeout_s
        with self._decided:
            while time.monotonic() < deadline and len(self.result.received_ns) < self.result.frames_published:
                self._decided.wait(0.05)

    @staticmethod
    def _frame_stamp(reader: BagReader, message: Any) -> int:
        msg = reader.decode(message)
        return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
