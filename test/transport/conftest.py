"""Fixtures for the transport contract suite: one `net` per adapter, each test on its own network.

A `Network` hands out buses that can talk to each other: the inproc adapter has one bus per
process, so `net.bus()` returns that same bus every time; zenoh gets a fresh session per call,
all joined through a hub on a free loopback port with a test-unique domain id, so concurrent test
runs on this machine never see each other; ros2 (rclpy) is skipped with the reason when absent.
"""

from __future__ import annotations

import os
import random
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from edge_llm_ros.msgs.codec import get_codec
from edge_llm_ros.transport.bus import Bus, Publisher, Subscription, TransportError
from edge_llm_ros.transport.factory import create_bus

REPO_ROOT = Path(__file__).resolve().parents[2]
CHILD_SCRIPT = Path(__file__).with_name("zenoh_child.py")
STRING = "std_msgs/msg/String"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def zenoh_test_config() -> dict[str, Any]:
    """Settings for an isolated zenoh network: its own hub port and domain id."""
    return {"hub": f"tcp/127.0.0.1:{free_port()}", "domain_id": random.randint(1, 232)}


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.005) -> bool:
    """Poll `predicate` until it holds or `timeout` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def string_msg(text: str) -> Any:
    return get_codec().msg_class(STRING)(data=text)


def decode_string(data: bytes) -> str:
    return str(get_codec().deserialize(data, STRING).data)


def drain(sub: Subscription) -> int:
    """Take everything queued; returns how many samples there were."""
    count = 0
    while sub.take(0.0) is not None:
        count += 1
    return count


def prime(pub: Publisher, subs: Sequence[Subscription], timeout: float = 5.0) -> None:
    """Publish probes until every subscription got one (so routes are up), then empty them.

    Across processes a subscription declared a moment ago is not yet known to the publisher's
    session; volatile samples sent before that are lost, as with any ROS 2 middleware.
    """
    deadline = time.monotonic() + timeout
    while not all(len(sub.queue) > 0 for sub in subs):
        if time.monotonic() > deadline:
            raise AssertionError("subscriptions never matched the publisher")
        pub.publish(string_msg("probe"))
        wait_until(lambda: all(len(sub.queue) > 0 for sub in subs), timeout=0.05)
    # Let probes still in flight land before emptying the queues.
    time.sleep(0.05)
    for sub in subs:
        drain(sub)


class Network:
    """Buses of one adapter that see each other; closes them all at the end."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.config: dict[str, Any] | None = zenoh_test_config() if kind == "zenoh" else None
        self._buses: list[Bus] = []

    def bus(self) -> Bus:
        """A participant on this network (the shared bus for inproc)."""
        if self.kind == "inproc" and self._buses:
            return self._buses[0]
        try:
            bus = create_bus(self.kind, self.config)
        except TransportError as exc:
            if self.kind == "ros2":
                pytest.skip(f"ros2 adapter unavailable: {exc}")
            raise
        self._buses.append(bus)
        return bus

    @property
    def shares_one_bus(self) -> bool:
        return self.kind == "inproc"

    def close(self) -> None:
        for bus in self._buses:
            bus.close()


def _isolate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("EDGE_LLM_ROS_ZENOH_") or name in ("ZENOH_SESSION_CONFIG_URI", "ROS_DOMAIN_ID"):
            monkeypatch.delenv(name, raising=False)
    # rclpy/DDS must never multicast off this machine.
    monkeypatch.setenv("ROS_LOCALHOST_ONLY", "1")
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    _isolate_env(monkeypatch)


@pytest.fixture(params=["inproc", "zenoh", "ros2"])
def net(request: pytest.FixtureRequest) -> Iterator[Network]:
    network = Network(request.param)
    try:
        yield network
    finally:
        network.close()


@pytest.fixture
def zenoh_net() -> Iterator[Network]:
    network = Network("zenoh")
    try:
        yield network
    finally:
        network.close()


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a child python process that imports this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_LLM_ROS_ZENOH_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def child_command(mode: str, config: dict[str, Any], *args: str) -> list[str]:
    return [sys.executable, str(CHILD_SCRIPT), mode, config["hub"], str(config["domain_id"]), *args]
