"""Zenoh adapter specifics on live loopback sessions: hub election, raw wire bytes, bad input."""

from __future__ import annotations

import json
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import zenoh

from edge_llm_ros.msgs.codec import get_codec
from edge_llm_ros.transport.bus import NodeEvent, TransportError
from edge_llm_ros.transport.factory import create_bus
from edge_llm_ros.transport.inproc import InprocBus
from edge_llm_ros.transport.qos import QoSProfile
from edge_llm_ros.transport.zenoh_attachment import pack_attachment, parse_attachment
from edge_llm_ros.transport.zenoh_bus import ZenohBus, _close_open_buses
from edge_llm_ros.transport.zenoh_config import (
    DEFAULT_HUB,
    SessionPlan,
    ZenohConfigError,
    ZenohSettings,
    build_zenoh_config,
    session_plans,
)
from edge_llm_ros.transport.zenoh_keys import LivelinessEntity, topic_key

from .conftest import STRING, Network, decode_string, prime, string_msg, wait_until, zenoh_test_config

TRIGGER = "std_srvs/srv/Trigger"


def raw_session(config: dict[str, Any]) -> zenoh.Session:
    """A bare zenoh session on the test network, standing in for a foreign (or hostile) peer."""
    settings = ZenohSettings.load(config, env={})
    plan = SessionPlan(("tcp/127.0.0.1:0",), (settings.hub or "",), False)
    return zenoh.open(build_zenoh_config(settings, plan))


@pytest.fixture
def raw(zenoh_net: Network) -> Any:
    assert zenoh_net.config is not None
    zenoh_net.bus()  # the hub
    session = raw_session(zenoh_net.config)
    yield session
    session.close()


# ----------------------------------------------------------------------------- configuration
def test_defaults_are_loopback_peer_without_multicast() -> None:
    settings = ZenohSettings.load(None, env={})
    config = build_zenoh_config(settings, session_plans(settings)[0])

    def get(path: str) -> Any:
        return json.loads(config.get_json(path))

    assert settings.mode == "peer" and settings.hub == DEFAULT_HUB == "tcp/127.0.0.1:7447"
    assert get("mode") == "peer"
    assert get("scouting/multicast/enabled") is False
    assert get("scouting/gossip/enabled") is True
    assert get("listen/endpoints") == ["tcp/127.0.0.1:7447"]
    assert get("connect/endpoints") == []
    assert get("transport/link/tx/lease") == 1000
    plans = session_plans(settings)
    assert [(p.listen, p.connect, p.is_hub) for p in plans] == [
        (("tcp/127.0.0.1:7447",), (), True),
        (("tcp/127.0.0.1:0",), ("tcp/127.0.0.1:7447",), False),
    ]


def test_environment_then_mapping_override_defaults() -> None:
    env = {
        "EDGE_LLM_ROS_ZENOH_CONNECT": "tcp/127.0.0.1:9000, tcp/127.0.0.1:9001",
        "EDGE_LLM_ROS_ZENOH_MODE": "client",
        "ROS_DOMAIN_ID": "17",
        "EDGE_LLM_ROS_ZENOH_HUB": "none",
    }
    from_env = ZenohSettings.load(None, env=env)
    assert from_env.connect == ("tcp/127.0.0.1:9000", "tcp/127.0.0.1:9001")
    assert (from_env.mode, from_env.domain_id, from_env.hub) == ("client", 17, None)
    assert session_plans(from_env) == [SessionPlan((), from_env.connect, False)]

    mixed = ZenohSettings.load({"mode": "peer", "domain_id": 3}, env=env)
    assert (mixed.mode, mixed.domain_id, mixed.connect) == ("peer", 3, from_env.connect)
    assert session_plans(mixed) == [SessionPlan(("tcp/127.0.0.1:0",), from_env.connect, False)]


def test_explicit_listen_and_router_mode() -> None:
    settings = ZenohSettings.load({"mode": "router", "listen": ["tcp/127.0.0.1:7999"]}, env={})
    assert session_plans(settings) == [SessionPlan(("tcp/127.0.0.1:7999",), ("tcp/127.0.0.1:7447",), False)]


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"bogus": 1}, "bogus"),
        ({"mode": "broker"}, "mode"),
        ({"domain_id": 999}, "domain_id"),
        ({"domain_id": "zero"}, "domain_id"),
        ({"connect": ["localhost"]}, "connect"),
        ({"validate_payloads": "paranoid"}, "validate_payloads"),
        ({"zenoh": ["not", "a", "mapping"]}, "zenoh"),
    ],
)
def test_bad_settings_name_the_key(data: dict[str, Any], named: str) -> None:
    with pytest.raises(ZenohConfigError, match=named):
        ZenohSettings.load(data, env={})


def test_settings_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "transport.yaml"
    path.write_text("zenoh_bus:\n  domain_id: 12\n  hub: tcp/127.0.0.1:7500\n  lease_ms: 2000\n")
    settings = ZenohSettings.from_yaml(path, env={})
    assert (settings.domain_id, settings.hub, settings.lease_ms) == (12, "tcp/127.0.0.1:7500", 2000)


def test_raw_zenoh_overrides_reach_the_session_config() -> None:
    settings = ZenohSettings.load({"zenoh": {"transport/link/tx/batch_size": 8192}}, env={})
    config = json.loads(build_zenoh_config(settings, session_plans(settings)[0]).get_json("transport"))
    assert config["link"]["tx"]["batch_size"] == 8192


# ----------------------------------------------------------------------------- hub and factory
def test_first_session_is_the_hub_and_the_next_join_it(zenoh_net: Network) -> None:
    first, second = zenoh_net.bus(), zenoh_net.bus()
    assert isinstance(first, ZenohBus) and isinstance(second, ZenohBus)
    assert first.is_hub and not second.is_hub
    assert first.listen_endpoints == (zenoh_net.config and zenoh_net.config["hub"],)
    assert second.listen_endpoints == ("tcp/127.0.0.1:0",)
    assert all(ep.startswith("tcp/127.0.0.1:") for ep in second.connect_endpoints)


def test_client_mode_session_talks_through_the_hub(zenoh_net: Network) -> None:
    assert zenoh_net.config is not None
    sub = zenoh_net.bus().create_node("listener").create_subscription("/c", STRING, QoSProfile())
    client = ZenohBus(zenoh_net.config | {"mode": "client"}, env={})
    try:
        assert not client.is_hub and client.listen_endpoints == ()
        pub = client.create_node("talker").create_publisher("/c", STRING, QoSProfile())
        prime(pub, [sub])
        pub.publish(string_msg("via client"))
        sample = sub.take(5.0)
        assert sample is not None and decode_string(sample.data) == "via client"
    finally:
        client.close()


def test_factory_builds_each_kind() -> None:
    assert isinstance(create_bus("inproc"), InprocBus)
    bus = create_bus("zenoh", zenoh_test_config())
    try:
        assert isinstance(bus, ZenohBus) and bus.name == "zenoh"
    finally:
        bus.close()
    with pytest.raises(TransportError, match="unknown bus kind"):
        create_bus("carrier_pigeon")
    with pytest.raises(TransportError):
        create_bus("inproc", {"hub": "x"})


def test_ros2_without_rclpy_is_a_clear_error() -> None:
    try:
        import rclpy  # noqa: F401  (a stub rclpy, as rclpy-intellisense installs, fails here too)
    except ImportError:
        with pytest.raises(TransportError, match="rclpy not available"):
            create_bus("ros2")
    else:
        pytest.skip("rclpy is importable here")


def test_atexit_hook_closes_open_sessions() -> None:
    bus = ZenohBus(zenoh_test_config(), env={})
    _close_open_buses()
    assert bus.closed
    with pytest.raises(TransportError):
        bus.create_node("late")


# ----------------------------------------------------------------------------- the wire
def test_publisher_sends_rmw_zenoh_key_payload_and_attachment(zenoh_net: Network, raw: zenoh.Session) -> None:
    bus = zenoh_net.bus()
    assert isinstance(bus, ZenohBus)
    captured: list[tuple[str, bytes, bytes | None]] = []
    key = topic_key(bus.domain_id, "/chatter", STRING, get_codec().type_hash(STRING))
    sub = raw.declare_subscriber(
        key,
        lambda s: captured.append(
            (str(s.key_expr), s.payload.to_bytes(), s.attachment.to_bytes() if s.attachment else None)
        ),
    )
    pub = bus.create_node("talker").create_publisher("/chatter", STRING, QoSProfile())
    try:
        assert wait_until(lambda: pub.has_subscribers)  # type: ignore[attr-defined]
        before = time.time_ns()
        pub.publish(string_msg("on the wire"))
        assert wait_until(lambda: len(captured) == 1)
    finally:
        sub.undeclare()

    wire_key, payload, attachment = captured[0]
    assert wire_key == key and wire_key.endswith("std_msgs::msg::dds_::String_/" + get_codec().type_hash(STRING))
    assert payload == get_codec().serialize(string_msg("on the wire"), STRING)
    assert attachment is not None and len(attachment) == 33
    seq, stamp, gid_len = struct.unpack_from("<qqB", attachment)
    assert (seq, gid_len, attachment[17:]) == (1, 16, pub.gid)
    assert before <= stamp <= time.time_ns()


def test_liveliness_tokens_describe_every_entity(zenoh_net: Network, raw: zenoh.Session) -> None:
    bus = zenoh_net.bus()
    assert isinstance(bus, ZenohBus)
    node = bus.create_node("graph", "/ns")
    node.create_publisher("/ns/out", STRING, QoSProfile(depth=7))
    node.create_subscription("/ns/in", STRING, QoSProfile())
    node.create_service("/ns/graph/get_state", "lifecycle_msgs/srv/GetState", lambda r: r)
    with pytest.raises(TransportError):
        node.call_service("/ns/absent", TRIGGER, b"", timeout_s=0.05)  # declares an SC token

    replies = raw.liveliness().get(f"@ros2_lv/{bus.domain_id}/**", timeout=2.0)
    entities = [LivelinessEntity.parse(str(r.ok.key_expr)) for r in replies if r.ok is not None]
    by_kind = {e.kind.value: e for e in entities if e.zid == bus.zid}

    assert set(by_kind) == {"NN", "MP", "MS", "SS", "SC"}
    assert {(e.namespace, e.node_name) for e in by_kind.values()} == {("/ns", "graph")}
    assert by_kind["NN"].node_id == by_kind["NN"].entity_id
    pub_topic = by_kind["MP"].topic
    assert pub_topic is not None and (pub_topic.name, pub_topic.qos.depth) == ("/ns/out", 7)
    srv_topic = by_kind["SS"].topic
    assert srv_topic is not None and srv_topic.dds_type == "lifecycle_msgs::srv::dds_::GetState_"
    assert srv_topic.type_hash == "RIHS01_800a0a5aae599782b02932de0caf563f6dc4e7e94b794eadde075ba2cbef9795"


def test_malformed_attachments_are_counted_and_dropped(zenoh_net: Network, raw: zenoh.Session) -> None:
    bus = zenoh_net.bus()
    assert isinstance(bus, ZenohBus)
    sub = bus.create_node("listener").create_subscription("/in", STRING, QoSProfile(depth=10))
    key = topic_key(bus.domain_id, "/in", STRING, get_codec().type_hash(STRING))
    good = get_codec().serialize(string_msg("ok"), STRING)
    pub = raw.declare_publisher(key)
    assert wait_until(lambda: bool(getattr(pub.matching_status, "matching", pub.matching_status)))

    pub.put(good)  # no attachment at all
    pub.put(good, attachment=b"\x01" * 10)  # truncated
    pub.put(good, attachment=b"\x00" * 16 + b"\x0f" + b"\x00" * 16)  # GID length 15
    pub.put(b"\x07\x07", attachment=pack_attachment(1, 5, bytes(16)))  # payload without CDR header
    pub.put(good, attachment=pack_attachment(42, 1234, bytes(range(16))))

    sample = sub.take(5.0)
    assert sample is not None and decode_string(sample.data) == "ok"
    assert (sample.info.sequence_number, sample.info.source_timestamp_ns) == (42, 1234)
    assert sample.info.publisher_gid == bytes(range(16))
    assert bus.counters["malformed_attachment"] == 3
    assert bus.counters["malformed_payload"] == 1
    assert sub.rejected == 4  # type: ignore[attr-defined]
    assert sub.take(0.0) is None
    pub.undeclare()


def test_full_validation_rejects_truncated_cdr() -> None:
    config = zenoh_test_config() | {"validate_payloads": "full"}
    bus = ZenohBus(config, env={})
    try:
        node = bus.create_node("strict")
        pub = node.create_publisher("/strict", STRING, QoSProfile())
        sub = node.create_subscription("/strict", STRING, QoSProfile())
        good = get_codec().serialize(string_msg("a longer string"), STRING)
        pub.publish_raw(good[:10])
        pub.publish_raw(good)
        sample = sub.take(5.0)
        assert sample is not None and sample.data == good
        assert bus.counters["malformed_payload"] == 1
    finally:
        bus.close()


def test_service_speaks_rmw_zenoh_request_and_reply(zenoh_net: Network, raw: zenoh.Session) -> None:
    bus = zenoh_net.bus()
    assert isinstance(bus, ZenohBus)
    srv = bus.create_node("server").create_service("/echo", TRIGGER, lambda r: b"re:" + r)
    gid = bytes(range(100, 116))

    def ask(attachment: bytes | None) -> list[zenoh.Reply]:
        return list(
            raw.get(
                srv.key,  # type: ignore[attr-defined]
                payload=b"ping",
                attachment=attachment,
                target=zenoh.QueryTarget.ALL_COMPLETE,
                consolidation=zenoh.ConsolidationMode.NONE,
                timeout=2.0,
            )
        )

    assert wait_until(lambda: len(ask(pack_attachment(1, 1, gid))) == 1)
    (reply,) = ask(pack_attachment(77, 5, gid))
    assert reply.ok is not None and reply.ok.payload.to_bytes() == b"re:ping"
    meta = parse_attachment(reply.ok.attachment.to_bytes() if reply.ok.attachment else None)
    assert (meta.sequence_number, meta.gid) == (77, gid)

    (bad,) = ask(None)
    assert bad.err is not None and b"attachment" in bad.err.payload.to_bytes()
    assert bus.counters["malformed_request"] == 1


def test_failing_handler_becomes_transport_error(zenoh_net: Network) -> None:
    server_bus, client_bus = zenoh_net.bus(), zenoh_net.bus()

    def broken(request: bytes) -> bytes:
        raise ValueError("no such state")

    server_bus.create_node("server").create_service("/broken", TRIGGER, broken)
    client = client_bus.create_node("client")

    with pytest.raises(TransportError, match="no such state"):
        client.call_service("/broken", TRIGGER, b"", timeout_s=5.0)
    assert isinstance(server_bus, ZenohBus) and server_bus.counters["service_errors"] == 1


def test_handler_may_call_another_service(zenoh_net: Network) -> None:
    bus = zenoh_net.bus()
    node = bus.create_node("chain")
    node.create_service("/inner", TRIGGER, lambda r: r + b"!")
    node.create_service("/outer", TRIGGER, lambda r: node.call_service("/inner", TRIGGER, r, 2.0) + b"?")

    assert zenoh_net.bus().create_node("c").call_service("/outer", TRIGGER, b"hi", 5.0) == b"hi!?"


def test_raising_watch_callback_is_counted(zenoh_net: Network) -> None:
    bus = zenoh_net.bus()
    assert isinstance(bus, ZenohBus)
    good: list[NodeEvent] = []
    bus.watch_nodes(lambda e: (_ for _ in ()).throw(RuntimeError("boom")))
    bus.watch_nodes(good.append)
    bus.create_node("someone")

    assert wait_until(lambda: NodeEvent("someone", "/", True) in good)
    assert wait_until(lambda: bus.counters["callback_errors"] >= 1)


def test_raising_on_ready_is_counted_and_sample_kept(zenoh_net: Network) -> None:
    bus = zenoh_net.bus()
    assert isinstance(bus, ZenohBus)

    def explode() -> None:
        raise RuntimeError("executor gone")

    node = bus.create_node("n")
    sub = node.create_subscription("/r", STRING, QoSProfile(), on_ready=explode)
    pub = node.create_publisher("/r", STRING, QoSProfile())
    pub.publish(string_msg("x"))

    sample = sub.take(5.0)
    assert sample is not None and decode_string(sample.data) == "x"
    assert bus.counters["callback_errors"] == 1


def test_publish_is_thread_safe_and_sequenced(zenoh_net: Network) -> None:
    pub = zenoh_net.bus().create_node("talker").create_publisher("/mt", STRING, QoSProfile(depth=500))
    sub = zenoh_net.bus().create_node("listener").create_subscription("/mt", STRING, QoSProfile(depth=500))
    prime(pub, [sub])
    data = get_codec().serialize(string_msg("x"), STRING)

    threads = [threading.Thread(target=lambda: [pub.publish_raw(data) for _ in range(50)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert wait_until(lambda: len(sub.queue) >= 200)
    seqs = [s.info.sequence_number for s in iter(lambda: sub.take(0.0), None)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 200


def test_closed_publisher_and_node_refuse_work(zenoh_net: Network) -> None:
    node = zenoh_net.bus().create_node("n")
    pub = node.create_publisher("/closed", STRING, QoSProfile())
    pub.close()
    with pytest.raises(TransportError):
        pub.publish(string_msg("x"))
    node.close()
    with pytest.raises(TransportError):
        node.create_publisher("/other", STRING, QoSProfile())
    with pytest.raises(TransportError):
        zenoh_net.bus().create_node("bad name!")
