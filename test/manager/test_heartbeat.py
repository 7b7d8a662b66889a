"""Node heartbeats on the in-process bus: opt-in, decodable, carrying state and failure reasons."""

from __future__ import annotations

import time
from typing import Any

import pytest

from edge_llm_ros.runtime.context import NodeContext, NodeOptions
from edge_llm_ros.runtime.executor import ExecutorThread
from edge_llm_ros.runtime.heartbeat import (
    HEARTBEAT_QOS,
    HEARTBEAT_TYPE,
    HeartbeatDecodeError,
    HeartbeatInfo,
)
from edge_llm_ros.runtime.lifecycle import CallbackReturn, State
from edge_llm_ros.runtime.managed_node import ManagedNode
from edge_llm_ros.runtime.params import ParameterSchema, ParameterSpec
from edge_llm_ros.transport.bus import Subscription
from edge_llm_ros.transport.inproc import InprocBus


class Picky(ManagedNode):
    PARAMETERS = ParameterSchema.of(ParameterSpec("ok", "bool", True))

    def on_configure(self) -> CallbackReturn:
        if not self.params["ok"]:
            self.machine.last_error = "refused: ok is false"
            return CallbackReturn.FAILURE
        self.out = self.create_publisher("/out", "std_msgs/msg/String")
        return CallbackReturn.SUCCESS

    def heartbeat_values(self) -> dict[str, str]:
        return {"model": "m@1"}


@pytest.fixture
def ctx() -> Any:
    bus = InprocBus()
    yield NodeContext(bus=bus)
    bus.close()


def next_beat(sub: Subscription, ctx: NodeContext, after_seq: int = 0, timeout: float = 5.0) -> HeartbeatInfo:
    """The first heartbeat with a higher seq than `after_seq` sent after this call."""
    after_ns = time.time_ns()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sample = sub.take(0.05)
        if sample is None:
            continue
        info = HeartbeatInfo.from_msg(ctx.bus.codec.deserialize(sample.data, HEARTBEAT_TYPE))
        if info.seq > after_seq and info.stamp_ns >= after_ns:
            return info
    raise AssertionError("no heartbeat")


def watch(ctx: NodeContext, topic: str) -> Subscription:
    return ctx.bus.create_node("watcher").create_subscription(topic, HEARTBEAT_TYPE, HEARTBEAT_QOS)


def test_heartbeat_is_off_by_default(ctx: NodeContext) -> None:
    node = Picky(ctx, NodeOptions("quiet"))
    sub = watch(ctx, "/quiet/heartbeat")
    assert node.heartbeat is None
    assert sub.take(0.1) is None
    node.destroy()


def test_heartbeat_reports_state_published_count_and_reason(ctx: NodeContext) -> None:
    sub = watch(ctx, "/ns/picky/heartbeat")
    node = Picky(ctx, NodeOptions("picky", "/ns", {"heartbeat_period_s": 0.005, "ok": False}))
    spinner = ExecutorThread(ctx.executor).start()
    try:
        first = next_beat(sub, ctx)
        assert first.node == "/ns/picky" and first.state is State.UNCONFIGURED
        assert first.values["model"] == "m@1"
        assert node.configure() is State.UNCONFIGURED
        beat = next_beat(sub, ctx, first.seq)
        assert beat.last_error == "refused: ok is false"
        node.options.parameter_overrides["ok"] = True  # type: ignore[index]
        assert node.bring_up() is State.ACTIVE
        node.out.publish(ctx.bus.codec.msg_class("std_msgs/msg/String")(data="x"))
        beat = next_beat(sub, ctx, beat.seq)
        while beat.state is not State.ACTIVE or beat.published < 1:
            beat = next_beat(sub, ctx, beat.seq)
        assert beat.last_error == "" and beat.executor_lag_s < 5.0
    finally:
        spinner.stop()
        node.destroy()
    # After destroy the node is silent.
    while sub.take(0.0) is not None:
        pass
    assert sub.take(0.05) is None


def test_hung_executor_shows_as_lag(ctx: NodeContext) -> None:
    sub = watch(ctx, "/lagging/heartbeat")
    node = Picky(ctx, NodeOptions("lagging", parameter_overrides={"heartbeat_period_s": 0.005}))
    # Nobody spins the executor: the tick never runs, the lag grows while beats continue.
    beat = next_beat(sub, ctx)
    while beat.executor_lag_s < 0.05:
        beat = next_beat(sub, ctx, beat.seq)
    node.destroy()


def test_bad_period_disables_heartbeat_and_fails_configure(ctx: NodeContext) -> None:
    node = Picky(ctx, NodeOptions("bad", parameter_overrides={"heartbeat_period_s": -1.0}))
    assert node.heartbeat is None
    assert node.configure() is State.UNCONFIGURED
    assert "heartbeat_period_s" in (node.last_error or "")
    node.destroy()


def test_malformed_heartbeat_raises_decode_error(ctx: NodeContext) -> None:
    msg = ctx.bus.codec.msg_class(HEARTBEAT_TYPE)(level=0, name="/x", message="", hardware_id="", values=[])
    with pytest.raises(HeartbeatDecodeError):
        HeartbeatInfo.from_msg(msg)
