"""The Bus port contract, run against every adapter present (inproc, zenoh; ros2 when rclpy is)."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

from edge_llm_ros.msgs.codec import CodecError, get_codec
from edge_llm_ros.transport import names
from edge_llm_ros.transport.bus import NodeEvent, TransportError
from edge_llm_ros.transport.qos import LATCHED, Durability, History, QoSProfile

from .conftest import STRING, Network, decode_string, prime, string_msg, wait_until


def test_pubsub_delivers_in_order(net: Network) -> None:
    talker = net.bus().create_node("talker")
    listener = net.bus().create_node("listener")
    pub = talker.create_publisher("/chatter", STRING, QoSProfile(depth=50))
    sub = listener.create_subscription("/chatter", STRING, QoSProfile(depth=50))
    prime(pub, [sub])

    for i in range(5):
        pub.publish(string_msg(f"hello {i}"))

    got = [sub.take(5.0) for _ in range(5)]
    assert [decode_string(s.data) for s in got if s is not None] == [f"hello {i}" for i in range(5)]
    assert all(s is not None and s.topic == "/chatter" and s.typename == STRING for s in got)


def test_many_subscribers_each_get_every_sample(net: Network) -> None:
    talker = net.bus().create_node("talker")
    remote = net.bus().create_node("listeners")
    local = talker.bus.create_node("local_listener")
    subs = [remote.create_subscription("/fan", STRING, QoSProfile(depth=50)) for _ in range(4)]
    subs.append(local.create_subscription("/fan", STRING, QoSProfile(depth=50)))
    pub = talker.create_publisher("/fan", STRING, QoSProfile(depth=50))
    prime(pub, subs)

    for i in range(10):
        pub.publish(string_msg(str(i)))

    for sub in subs:
        queue = sub.queue
        assert wait_until(lambda: len(queue) >= 10)  # noqa: B023 - checked before the next iteration
        assert [decode_string(sub.take().data) for _ in range(10)] == [str(i) for i in range(10)]  # type: ignore[union-attr]
        assert sub.take(0.0) is None


def test_keep_last_drops_the_oldest(net: Network) -> None:
    pub = net.bus().create_node("talker").create_publisher("/depth", STRING, QoSProfile(depth=50))
    sub = net.bus().create_node("slow_reader").create_subscription("/depth", STRING, QoSProfile(depth=3))
    prime(pub, [sub])
    received, dropped = sub.queue.received, sub.dropped

    for i in range(10):
        pub.publish(string_msg(str(i)))

    assert wait_until(lambda: sub.queue.received - received >= 10)
    assert sub.dropped - dropped == 7
    assert [decode_string(sub.take().data) for _ in range(3)] == ["7", "8", "9"]  # type: ignore[union-attr]
    assert sub.take(0.0) is None


def test_keep_all_keeps_everything(net: Network) -> None:
    keep_all = QoSProfile(history=History.KEEP_ALL, depth=1)
    pub = net.bus().create_node("talker").create_publisher("/all", STRING, keep_all)
    sub = net.bus().create_node("reader").create_subscription("/all", STRING, keep_all)
    prime(pub, [sub])

    for i in range(25):
        pub.publish(string_msg(str(i)))

    assert wait_until(lambda: len(sub.queue) >= 25)
    assert sub.dropped == 0
    assert [decode_string(sub.take().data) for _ in range(25)] == [str(i) for i in range(25)]  # type: ignore[union-attr]


def test_message_info_carries_sequence_gid_and_stamp(net: Network) -> None:
    pub = net.bus().create_node("talker").create_publisher("/info", STRING, QoSProfile(depth=50))
    sub = net.bus().create_node("listener").create_subscription("/info", STRING, QoSProfile(depth=50))
    prime(pub, [sub])
    data = get_codec().serialize(string_msg("stamped"), STRING)
    stamps = [1_700_000_000_000_000_000 + i for i in range(3)]

    for stamp in stamps:
        pub.publish_raw(data, source_timestamp_ns=stamp)

    got = [sub.take(5.0) for _ in stamps]
    assert all(s is not None for s in got)
    infos = [s.info for s in got if s is not None]
    assert [i.source_timestamp_ns for i in infos] == stamps
    seqs = [i.sequence_number for i in infos]
    assert seqs == list(range(seqs[0], seqs[0] + 3)) and seqs[0] >= 1
    assert all(i.publisher_gid == pub.gid and len(i.publisher_gid) == 16 for i in infos)
    assert all(i.received_timestamp_ns > 0 for i in infos)
    assert pub.published >= 3


def test_lifespan_expires_old_samples(net: Network) -> None:
    pub = net.bus().create_node("talker").create_publisher("/old", STRING, QoSProfile(depth=50))
    sub = net.bus().create_node("listener").create_subscription("/old", STRING, QoSProfile(lifespan_s=1.0))
    prime(pub, [sub])
    received = sub.queue.received

    pub.publish_raw(get_codec().serialize(string_msg("stale"), STRING), time.time_ns() - 10_000_000_000)

    assert wait_until(lambda: sub.queue.received > received)
    assert sub.take(0.0) is None
    assert sub.queue.dropped_expired == 1


def test_transient_local_reaches_late_joiner(net: Network) -> None:
    bus = net.bus()
    if "durability" not in bus.honoured_qos:
        pytest.skip(f"{bus.name} does not honour durability")
    pub = bus.create_node("latcher").create_publisher("/latched", STRING, LATCHED)
    for i in range(3):
        pub.publish(string_msg(f"state {i}"))

    late = net.bus().create_node("late").create_subscription("/latched", STRING, LATCHED)

    sample = late.take(5.0)
    assert sample is not None and decode_string(sample.data) == "state 2"
    assert LATCHED.durability is Durability.TRANSIENT_LOCAL


def test_service_call_roundtrip(net: Network) -> None:
    calls: list[bytes] = []

    def handler(request: bytes) -> bytes:
        calls.append(request)
        return request[::-1]

    net.bus().create_node("server").create_service("/reverse", "std_srvs/srv/Trigger", handler)
    client = net.bus().create_node("client")

    assert client.call_service("/reverse", "std_srvs/srv/Trigger", b"abc\x00", timeout_s=5.0) == b"\x00cba"
    assert client.call_service("/reverse", "std_srvs/srv/Trigger", b"xy", timeout_s=5.0) == b"yx"
    assert calls == [b"abc\x00", b"xy"]


def test_service_absent_raises(net: Network) -> None:
    client = net.bus().create_node("client")
    # How long giving up takes is measured in benchmarks/service_absent.py, not asserted here.
    with pytest.raises(TransportError):
        client.call_service("/nobody_home", "std_srvs/srv/Trigger", b"", timeout_s=0.3)


def test_service_timeout_raises(net: Network) -> None:
    if net.shares_one_bus:
        pytest.skip("inproc runs the handler synchronously in the caller; it cannot time out")
    release = threading.Event()

    def slow(request: bytes) -> bytes:
        release.wait(5.0)
        return request

    net.bus().create_node("server").create_service("/slow", "std_srvs/srv/Trigger", slow)
    client = net.bus().create_node("client")
    try:
        with pytest.raises(TransportError, match="within"):
            client.call_service("/slow", "std_srvs/srv/Trigger", b"x", timeout_s=0.3)
    finally:
        release.set()


def test_second_server_for_a_service_is_refused(net: Network) -> None:
    node = net.bus().create_node("server")
    node.create_service("/only_one", "std_srvs/srv/Trigger", lambda r: r)

    with pytest.raises(TransportError):
        node.create_service("/only_one", "std_srvs/srv/Trigger", lambda r: r)


def test_topic_type_conflict_is_refused(net: Network) -> None:
    node = net.bus().create_node("talker")
    node.create_publisher("/typed", STRING, QoSProfile())

    with pytest.raises(TransportError):
        node.create_subscription("/typed", "std_msgs/msg/Header", QoSProfile())


def test_node_watch_reports_alive_and_dead(net: Network) -> None:
    events: list[NodeEvent] = []
    lock = threading.Lock()

    def record(event: NodeEvent) -> None:
        with lock:
            events.append(event)

    def seen(name: str, alive: bool) -> bool:
        with lock:
            return NodeEvent(name, "/fleet", alive) in events

    stop = net.bus().watch_nodes(record)
    node = net.bus().create_node("worker", "/fleet")

    assert wait_until(lambda: seen("worker", True))
    node.close()
    assert wait_until(lambda: seen("worker", False))
    stop()
    net.bus().create_node("after_stop", "/fleet")
    time.sleep(0.1)
    assert not seen("after_stop", True)


def test_namespaces_private_names_and_remapping(net: Network) -> None:
    ns, node_name = "/vehicle", "camera_driver"
    driver = net.bus().create_node(node_name, ns)
    image_topic = names.resolve("camera/image", ns, node_name)
    status_topic = names.resolve("~/status", ns, node_name)
    assert (image_topic, status_topic) == ("/vehicle/camera/image", "/vehicle/camera_driver/status")
    # A consumer in another namespace reaches the image through a remap rule, as launch files do.
    consumer_topic = names.resolve("image_in", "/perception", "fusion", {"image_in": "/vehicle/camera/image"})
    assert consumer_topic == image_topic

    pub = driver.create_publisher(image_topic, STRING, QoSProfile(depth=10))
    status_pub = driver.create_publisher(status_topic, STRING, QoSProfile(depth=10))
    consumer = net.bus().create_node("fusion", "/perception")
    sub = consumer.create_subscription(consumer_topic, STRING, QoSProfile(depth=10))
    status_sub = consumer.create_subscription("/vehicle/camera_driver/status", STRING, QoSProfile(depth=10))
    prime(pub, [sub])
    prime(status_pub, [status_sub])

    pub.publish(string_msg("frame"))
    status_pub.publish(string_msg("ok"))

    image, status = sub.take(5.0), status_sub.take(5.0)
    assert image is not None and image.topic == "/vehicle/camera/image" and decode_string(image.data) == "frame"
    assert status is not None and decode_string(status.data) == "ok"


def test_garbage_payloads_never_break_the_bus(net: Network) -> None:
    pub = net.bus().create_node("talker").create_publisher("/noisy", STRING, QoSProfile(depth=50))
    sub = net.bus().create_node("listener").create_subscription("/noisy", STRING, QoSProfile(depth=50))
    prime(pub, [sub])
    good = get_codec().serialize(string_msg("still fine"), STRING)
    garbage = [b"", b"\x00", b"not cdr at all", good[:6], b"\x00\x01\x00\x00" + b"\xff" * 3]

    for payload in garbage:
        pub.publish_raw(payload)
    pub.publish(string_msg("still fine"))

    arrived = []
    while True:
        sample = sub.take(5.0)
        assert sample is not None, "the valid sample after the garbage never arrived"
        arrived.append(sample)
        if sample.data == good:
            break
    # Whatever an adapter chose to deliver decodes or raises CodecError, nothing else.
    for sample in arrived[:-1]:
        with contextlib.suppress(CodecError):
            get_codec().deserialize(sample.data, STRING)
    assert decode_string(arrived[-1].data) == "still fine"


def test_close_is_idempotent_and_final(net: Network) -> None:
    bus = net.bus()
    node = bus.create_node("short_lived")
    node.create_publisher("/x", STRING, QoSProfile())
    node.close()
    node.close()
    bus.close()
    bus.close()

    with pytest.raises(TransportError):
        bus.create_node("too_late")
