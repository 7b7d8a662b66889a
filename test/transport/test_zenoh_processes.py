"""Zenoh across real processes: pub/sub both ways, a service call, kill -9, a hub that dies."""

from __future__ import annotations

import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from edge_llm_ros.transport.bus import NodeEvent
from edge_llm_ros.transport.qos import QoSProfile
from edge_llm_ros.transport.zenoh_bus import ZenohBus

from .conftest import STRING, Network, child_command, child_env, decode_string, prime, string_msg, wait_until

pytestmark = pytest.mark.slow
CHILD_START_S = 20.0  # a cold interpreter importing zenoh + rosbags on a busy 2-core box


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """One line of the child's stdout, or AssertionError after `timeout` (never blocks forever)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"child {proc.args!r} said nothing within {timeout} s")
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"child exited with {proc.wait(5)} before answering")
    return line.strip()


@contextmanager
def child(mode: str, config: dict[str, Any], *args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """Start zenoh_child.py, wait for READY, and always reap it."""
    proc = subprocess.Popen(
        [*child_command(mode, config, *args), "--lifetime", "60"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        ready = read_line(proc, CHILD_START_S).split()
        assert ready[0] == "READY", ready
        yield proc, ready
    finally:
        if proc.poll() is None:
            assert proc.stdin is not None
            proc.stdin.close()  # asks the child to close its session and exit
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()


def test_two_processes_pubsub_and_service(zenoh_net: Network) -> None:
    assert zenoh_net.config is not None
    bus = zenoh_net.bus()
    node = bus.create_node("parent")
    ping = node.create_publisher("/ping", STRING, QoSProfile(depth=100))
    pong = node.create_subscription("/pong", STRING, QoSProfile(depth=100))

    with child("echo", zenoh_net.config) as (proc, ready):
        assert ready[2] == "False"  # the parent's session already holds the hub
        prime(ping, [pong], timeout=10.0)
        for i in range(20):
            ping.publish(string_msg(f"round {i}"))
        got = [pong.take(5.0) for _ in range(20)]

        assert [decode_string(s.data) for s in got if s is not None] == [f"round {i}" for i in range(20)]
        infos = [s.info for s in got if s is not None]
        assert len({i.publisher_gid for i in infos}) == 1 and infos[0].publisher_gid != ping.gid
        seqs = [i.sequence_number for i in infos]
        assert seqs == list(range(seqs[0], seqs[0] + 20))

        request = b"\x00\x01\x00\x00" + struct.pack("<qq", 40, 2)
        response = node.call_service("/child/add", "example_interfaces/srv/AddTwoInts", request, timeout_s=10.0)
        assert struct.unpack_from("<q", response, 4) == (42,)
        assert proc.poll() is None


def test_child_publisher_reaches_parent_in_order(zenoh_net: Network) -> None:
    assert zenoh_net.config is not None
    sub = zenoh_net.bus().create_node("listener").create_subscription("/chatter", STRING, QoSProfile(depth=200))

    with child("publish", zenoh_net.config, "100") as (proc, _):
        assert read_line(proc, 20.0) == "SENT"
        assert wait_until(lambda: len(sub.queue) >= 100, timeout=10.0)

    samples = [sub.take(0.0) for _ in range(100)]
    assert [decode_string(s.data) for s in samples if s is not None] == [f"msg {i}" for i in range(100)]
    assert [s.info.sequence_number for s in samples if s is not None] == list(range(1, 101))


def test_kill_9_is_seen_as_node_death(zenoh_net: Network) -> None:
    assert zenoh_net.config is not None
    bus = zenoh_net.bus()
    events: list[tuple[float, NodeEvent]] = []
    lock = threading.Lock()

    def record(event: NodeEvent) -> None:
        with lock:
            events.append((time.monotonic(), event))

    def seen(alive: bool) -> float | None:
        with lock:
            return next((t for t, e in events if e == NodeEvent("victim", "/proc", alive)), None)

    bus.watch_nodes(record)
    with child("victim", zenoh_net.config) as (proc, _):
        assert wait_until(lambda: seen(True) is not None, timeout=10.0)
        killed_at = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

        # Bounded by lease (1 s) + slack; on loopback the closed socket reports it in milliseconds.
        assert wait_until(lambda: seen(False) is not None, timeout=3.0)
    dead_at = seen(False)
    assert dead_at is not None
    print(f"kill -9 -> alive=False after {(dead_at - killed_at) * 1000:.1f} ms")


def test_peers_keep_talking_after_the_hub_dies(zenoh_net: Network) -> None:
    assert zenoh_net.config is not None
    with child("idle", zenoh_net.config) as (hub_proc, hub_ready):
        assert hub_ready[2] == "True"
        with child("echo", zenoh_net.config) as (_, echo_ready):
            assert echo_ready[2] == "False"
            bus = zenoh_net.bus()
            assert isinstance(bus, ZenohBus) and not bus.is_hub
            node = bus.create_node("parent")
            ping = node.create_publisher("/ping", STRING, QoSProfile(depth=100))
            pong = node.create_subscription("/pong", STRING, QoSProfile(depth=100))
            # Parent and echo only know each other through the hub's gossip.
            prime(ping, [pong], timeout=10.0)

            os.kill(hub_proc.pid, signal.SIGKILL)
            hub_proc.wait(10)
            ping.publish(string_msg("after the hub"))
            sample = pong.take(5.0)
            assert sample is not None and decode_string(sample.data) == "after the hub"

            # A newcomer takes the hub port over and the survivors rejoin it.
            newcomer = ZenohBus(zenoh_net.config, env={})
            try:
                assert newcomer.is_hub
                late = newcomer.create_node("late").create_subscription("/pong", STRING, QoSProfile(depth=100))
                prime(ping, [late], timeout=10.0)
            finally:
                newcomer.close()


FORGETFUL = """
import sys
from edge_llm_ros.transport.qos import QoSProfile
from edge_llm_ros.transport.zenoh_bus import ZenohBus
config = {"hub": sys.argv[1], "domain_id": int(sys.argv[2])}
bus, other = ZenohBus(config, env={}), ZenohBus(config, env={})
node = bus.create_node("forgetful")
node.create_subscription("/t", "std_msgs/msg/String", QoSProfile())
node.create_service("/s", "std_srvs/srv/Trigger", lambda r: r)
bus.watch_nodes(lambda e: None)
assert other.create_node("caller").call_service("/s", "std_srvs/srv/Trigger", b"x", 5.0) == b"x"
print("LEAVING", flush=True)
"""


def test_process_that_never_closes_still_exits(zenoh_net: Network) -> None:
    assert zenoh_net.config is not None
    # Callbacks, a watcher and a served call leave no thread that would block interpreter exit.
    done = subprocess.run(
        [sys.executable, "-c", FORGETFUL, zenoh_net.config["hub"], str(zenoh_net.config["domain_id"])],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "LEAVING"
