"""Exclusive outputs: two instances of a node hand over without serving a frame twice or never."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from edge_llm_ros.nodes.convert import header
from edge_llm_ros.runtime.context import NodeContext, NodeOptions
from edge_llm_ros.runtime.exclusive import KeyExtractor
from edge_llm_ros.runtime.lifecycle import CallbackReturn, State
from edge_llm_ros.runtime.managed_node import ManagedNode
from edge_llm_ros.transport.bus import UNKNOWN_PUBLISHER, MessageInfo
from edge_llm_ros.transport.inproc import InprocBus
from edge_llm_ros.transport.qos import QoSProfile

HEADER = "std_msgs/msg/Header"
STRING = "std_msgs/msg/String"


class Stage(ManagedNode):
    """Answers each input frame (a Header) with an output of the same key; holds back frames >= hold."""

    def on_configure(self) -> CallbackReturn:
        self.seen: list[int] = []
        self.hold_from: int | None = None
        self.out = self.create_publisher("/out", HEADER, QoSProfile(depth=100))
        self.create_subscription("/in", HEADER, self.on_frame, QoSProfile(depth=100))
        return CallbackReturn.SUCCESS

    def on_frame(self, msg: Any, _info: MessageInfo) -> None:
        stamp = int(msg.stamp.sec) * 1_000_000_000 + int(msg.stamp.nanosec)
        self.seen.append(stamp)
        if self.hold_from is not None and stamp >= self.hold_from:
            return  # "in flight" when the instance is switched off: never published by it
        self.out.publish(msg)


@pytest.fixture
def ctx() -> Iterator[NodeContext]:
    bus = InprocBus()
    yield NodeContext(bus=bus)
    bus.close()


def frame(ctx: NodeContext, stamp: int) -> Any:
    return header(ctx.bus.codec, stamp, "camera")


def test_takeover_serves_each_frame_exactly_once(ctx: NodeContext) -> None:
    a = Stage(ctx, NodeOptions("stage_a", parameter_overrides={"exclusive_outputs": True}))
    b = Stage(ctx, NodeOptions("stage_b", parameter_overrides={"exclusive_outputs": True}))
    watcher = ctx.bus.create_node("downstream")
    out = watcher.create_subscription("/out", HEADER, QoSProfile(depth=100))
    src = ctx.bus.create_node("camera").create_publisher("/in", HEADER, QoSProfile(depth=100))
    assert a.bring_up() is State.ACTIVE and b.configure() is State.INACTIVE
    a.hold_from = 4
    for stamp in range(1, 6):
        src.publish(frame(ctx, stamp))
    ctx.executor.spin_until_idle()
    assert a.seen == [1, 2, 3, 4, 5] and b.seen == []  # b is a warm standby: inputs queued
    # Switch: a stops (4 and 5 were in flight there), b takes over with its backlog 1..5.
    a.deactivate()
    b.activate()
    ctx.executor.spin_until_idle()
    src.publish(frame(ctx, 6))
    ctx.executor.spin_until_idle()
    stamps = []
    while (sample := out.take(0.0)) is not None:
        msg = ctx.bus.codec.deserialize(sample.data, HEADER)
        stamps.append(int(msg.stamp.nanosec))
    assert stamps == [1, 2, 3, 4, 5, 6]  # never both, never none
    assert b.seen == [4, 5, 6]
    assert b.counters["input_already_served"] == 3
    a.destroy()
    b.destroy()


def test_a_late_duplicate_output_is_suppressed(ctx: NodeContext) -> None:
    a = Stage(ctx, NodeOptions("stage_a", parameter_overrides={"exclusive_outputs": True}))
    b = Stage(ctx, NodeOptions("stage_b", parameter_overrides={"exclusive_outputs": True}))
    assert a.bring_up() is State.ACTIVE and b.bring_up() is State.ACTIVE
    assert a.out.publish(frame(ctx, 7)) is True
    assert b.out.publish(frame(ctx, 7)) is False
    assert b.counters["duplicate_suppressed"] == 1
    assert a.out.publish(frame(ctx, 8)) is True  # its own earlier outputs never block it
    a.destroy()
    b.destroy()


def test_without_the_parameter_nothing_is_filtered(ctx: NodeContext) -> None:
    a = Stage(ctx, NodeOptions("stage_a"))
    b = Stage(ctx, NodeOptions("stage_b"))
    assert a.bring_up() is State.ACTIVE and b.bring_up() is State.ACTIVE
    assert a.out.publish(frame(ctx, 7)) is True and b.out.publish(frame(ctx, 7)) is True
    a.destroy()
    b.destroy()


def test_keys_of_header_and_json_messages(ctx: NodeContext) -> None:
    codec = ctx.bus.codec
    det = codec.msg_class("vision_msgs/msg/Detection2DArray")(header=header(codec, 1_500_000_000, "cam"), detections=[])
    keys = KeyExtractor(codec, "vision_msgs/msg/Detection2DArray")
    assert keys.from_msg(det) == (1_500_000_000, "cam")
    assert keys.from_bytes(codec.serialize(det)) == (1_500_000_000, "cam")
    text = KeyExtractor(codec, STRING)
    string = codec.msg_class(STRING)
    assert text.from_msg(string(data='{"stamp_ns": 5, "camera": "c"}')) == (5, "c")
    assert text.from_msg(string(data='{"stamp_ns": 5, "camera": "c", "stage": "roi"}')) == (5, "c", "roi")
    assert text.from_msg(string(data="plain text")) is None
    assert text.from_bytes(b"\x00\x01garbage") is None
    assert KeyExtractor(codec, "sensor_msgs/msg/NavSatFix").from_bytes(b"\x00\x01\x00\x00") is None


def test_own_outputs_without_publisher_ids_do_not_block_a_replay(ctx: NodeContext) -> None:
    # rclpy on Humble gives no publisher gid: an instance's own outputs come back anonymous, and
    # must not count as "another instance served this frame" when the same drive plays again.
    a = Stage(ctx, NodeOptions("stage_a", parameter_overrides={"exclusive_outputs": True}))
    watcher = ctx.bus.create_node("downstream")
    out = watcher.create_subscription("/out", HEADER, QoSProfile(depth=100))
    src = ctx.bus.create_node("camera").create_publisher("/in", HEADER, QoSProfile(depth=100))
    assert a.bring_up() is State.ACTIVE
    a.out.publisher.gid = UNKNOWN_PUBLISHER
    for _ in range(2):
        for stamp in (1, 2, 3):
            src.publish(frame(ctx, stamp))
        ctx.executor.spin_until_idle()
    served = 0
    while out.take(0.0) is not None:
        served += 1
    assert served == 6
    assert a.counters["input_already_served"] == 0 and a.counters["duplicate_suppressed"] == 0
    a.destroy()
