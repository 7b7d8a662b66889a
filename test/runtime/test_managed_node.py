"""Managed nodes on the in-process bus: lifecycle publishers, decoding, services, cleanup."""

from typing import Any

import pytest

from edge_llm_ros.runtime.context import NodeContext, NodeOptions
from edge_llm_ros.runtime.lifecycle import CallbackReturn, State
from edge_llm_ros.runtime.managed_node import ManagedNode
from edge_llm_ros.runtime.params import ParameterSchema, ParameterSpec
from edge_llm_ros.transport.bus import MessageInfo
from edge_llm_ros.transport.inproc import InprocBus

STRING = "std_msgs/msg/String"


class Echo(ManagedNode):
    PARAMETERS = ParameterSchema.of(
        ParameterSpec("prefix", "str", ">"),
        ParameterSpec("gain", "float", 1.0, min=0.0, max=10.0),
    )

    def on_configure(self) -> CallbackReturn:
        self.received: list[str] = []
        self.out = self.create_publisher("out", STRING)
        self.create_subscription("in", STRING, self.on_msg)
        return CallbackReturn.SUCCESS

    def on_msg(self, msg: Any, info: MessageInfo) -> None:
        self.received.append(msg.data)
        self.out.publish(self.codec.msg_class(STRING)(data=self.params["prefix"] + msg.data))


@pytest.fixture
def ctx():
    bus = InprocBus()
    yield NodeContext(bus=bus)
    bus.close()


def collect(ctx: NodeContext, topic: str) -> list[str]:
    got: list[str] = []
    probe = ManagedNode(ctx, NodeOptions("probe"))
    probe.configure()
    probe.create_subscription(topic, STRING, lambda m, _i: got.append(m.data))
    probe.activate()
    return got


def test_inactive_node_holds_input_and_does_not_publish(ctx: NodeContext) -> None:
    node = Echo(ctx, NodeOptions("echo", "/veh", parameter_overrides={"prefix": "#"}))
    out = collect(ctx, "/veh/out")
    pub = ctx.bus.create_node("src").create_publisher("/veh/in", STRING, ctx.qos.profile("default"))
    assert node.configure() is State.INACTIVE
    pub.publish(node.codec.msg_class(STRING)(data="a"))
    ctx.executor.spin_until_idle()
    assert node.received == [] and out == []
    node.activate()
    ctx.executor.spin_until_idle()
    assert node.received == ["a"]
    assert out == ["#a"]
    node.deactivate()
    assert node.out.publish(node.codec.msg_class(STRING)(data="x")) is False
    assert node.counters["publish_while_inactive"] == 1


def test_bad_parameter_fails_configure_with_name(ctx: NodeContext) -> None:
    node = Echo(ctx, NodeOptions("echo", parameter_overrides={"gain": 50.0}))
    assert node.configure() is State.UNCONFIGURED
    assert node.last_error is not None and "'gain' = 50.0 is above its maximum" in node.last_error


def test_params_document_is_read_at_configure(ctx: NodeContext) -> None:
    ctx.params_document = {"echo": {"ros__parameters": {"prefix": "doc:"}}}
    node = Echo(ctx, NodeOptions("echo"))
    node.configure()
    assert node.params["prefix"] == "doc:"


def test_malformed_payload_is_counted_not_raised(ctx: NodeContext) -> None:
    node = Echo(ctx, NodeOptions("echo"))
    node.bring_up()
    pub = ctx.bus.create_node("src").create_publisher("/in", STRING, ctx.qos.profile("default"))
    pub.publish_raw(b"\x00\x01\x00\x00\xff\xff\xff\xff")
    pub.publish_raw(b"junk")
    pub.publish(node.codec.msg_class(STRING)(data="ok"))
    ctx.executor.spin_until_idle()
    assert node.received == ["ok"]
    assert node.counters["bad_input:/in"] == 2


def test_cleanup_destroys_configured_entities(ctx: NodeContext) -> None:
    node = Echo(ctx, NodeOptions("echo"))
    node.bring_up()
    node.deactivate()
    node.cleanup()
    pub = ctx.bus.create_node("src").create_publisher("/in", STRING, ctx.qos.profile("default"))
    pub.publish(node.codec.msg_class(STRING)(data="late"))
    assert ctx.executor.spin_until_idle() == 0
    assert node.state is State.UNCONFIGURED
    assert node.configure() is State.INACTIVE  # entities can be created again


def test_lifecycle_services_drive_the_node_over_the_bus(ctx: NodeContext) -> None:
    node = Echo(ctx, NodeOptions("echo", "/veh"))
    codec = node.codec
    client = ctx.bus.create_node("manager")
    transition = codec.msg_class("lifecycle_msgs/msg/Transition")
    request = codec.msg_class("lifecycle_msgs/srv/ChangeState_Request")

    def change(label: str) -> bool:
        raw = client.call_service(
            "/veh/echo/change_state",
            "lifecycle_msgs/srv/ChangeState",
            codec.serialize(request(transition=transition(id=0, label=label))),
            1.0,
        )
        return bool(codec.deserialize(raw, "lifecycle_msgs/srv/ChangeState_Response").success)

    def get() -> str:
        get_req = codec.msg_class("lifecycle_msgs/srv/GetState_Request")(structure_needs_at_least_one_member=0)
        raw = client.call_service("/veh/echo/get_state", "lifecycle_msgs/srv/GetState", codec.serialize(get_req), 1.0)
        return str(codec.deserialize(raw, "lifecycle_msgs/srv/GetState_Response").current_state.label)

    assert get() == "unconfigured"
    assert change("activate") is False
    assert change("configure") is True
    assert change("activate") is True
    assert get() == "active"
    assert change("shutdown") is True
    assert get() == "finalized"


def test_remapping_and_private_names(ctx: NodeContext) -> None:
    node = Echo(ctx, NodeOptions("echo", "/veh", remaps={"in": "/camera/text", "~/debug": "/dbg"}))
    assert node.resolve("in") == "/camera/text"
    assert node.resolve("out") == "/veh/out"
    assert node.resolve("~/debug") == "/dbg"
    assert node.resolve("~/other") == "/veh/echo/other"


def test_stage_spans_use_wall_time_while_the_node_clock_is_simulated() -> None:
    # Under use_sim_time the node's clock moves only with /clock (40 Hz from `ros2 bag play
    # --clock`): stamps and waits follow it, but measured spans must not be rounded by it.
    import time

    from edge_llm_ros.runtime.clock import SimClock

    bus = InprocBus()
    clock = SimClock(1_700_000_000_000_000_000)
    node = Echo(NodeContext(bus=bus, clock=clock), NodeOptions("echo"))
    try:
        start = node.span_ns()
        time.sleep(0.01)
        assert node.span_ns() - start >= 10_000_000
        assert node.now_ns() == 1_700_000_000_000_000_000
    finally:
        node.destroy()
        bus.close()
