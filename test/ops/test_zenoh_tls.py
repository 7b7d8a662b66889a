"""zenoh links with mutual TLS (zenoh's own transport/link/tls keys), on loopback, real certificates.

The settings are what docs/operations.md documents: the listening side presents the device's
certificate, the connecting side its own, both trust only the operations CA, and `enable_mtls`
makes the listener refuse peers without a certificate from that CA.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("cryptography", reason="certificates need cryptography (pip install -e '.[ops]')")

from edge_llm_ros.ops.monitoring.prometheus_server import free_port
from edge_llm_ros.ops.remote.certs import issue_peer, make_ca
from edge_llm_ros.transport.bus import Bus
from edge_llm_ros.transport.factory import create_bus
from edge_llm_ros.transport.qos import QoSProfile, Reliability

TOPIC = "/edge_llm/tls_probe"
STRING = "std_msgs/msg/String"
RELIABLE = QoSProfile(reliability=Reliability.RELIABLE, depth=10)


def tls_settings(
    ca: Path, cert: Path, key: Path, *, listen: str | None = None, connect: str | None = None
) -> dict[str, Any]:
    """The zenoh settings of one side of a mutual-TLS link (as documented in docs/operations.md)."""
    tls = "transport/link/tls"
    return {
        "hub": "none",
        "listen": [listen] if listen else [],
        "connect": [connect] if connect else [],
        "zenoh": {
            f"{tls}/root_ca_certificate": str(ca),
            f"{tls}/listen_certificate": str(cert),
            f"{tls}/listen_private_key": str(key),
            f"{tls}/connect_certificate": str(cert),
            f"{tls}/connect_private_key": str(key),
            f"{tls}/enable_mtls": True,
            f"{tls}/verify_name_on_connect": True,
        },
    }


@contextmanager
def _bus(settings: dict[str, Any]) -> Iterator[Bus]:
    bus = create_bus("zenoh", settings)
    try:
        yield bus
    finally:
        bus.close()


def _delivered(receiver: Bus, sender: Bus, attempts: int = 20) -> bool:
    sub = receiver.create_node("tls_rx").create_subscription(TOPIC, STRING, RELIABLE)
    pub = sender.create_node("tls_tx").create_publisher(TOPIC, STRING, RELIABLE)
    msg = sender.codec.msg_class(STRING)(data="over tls")
    for _ in range(attempts):  # the link comes up asynchronously: publish until one arrives (bounded)
        pub.publish(msg)
        sample = sub.take(0.25)
        if sample is not None:
            return bool(receiver.codec.deserialize(sample.data, STRING).data == "over tls")
    return False


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    out = tmp_path_factory.mktemp("pki")
    ca = make_ca()
    paths = {"ca": ca.write(out, "ca")}
    # zenoh presents the same certificate whichever side of a link it is on: both usages.
    paths["device"] = issue_peer(ca).write(out, "device")
    paths["peer"] = issue_peer(ca).write(out, "peer")
    other = make_ca("another CA")
    paths["other_ca"] = other.write(out, "other_ca")
    paths["stranger"] = issue_peer(other).write(out, "stranger")
    return paths


def test_mutual_tls_link_carries_messages(pki: dict[str, tuple[Path, Path]]) -> None:
    endpoint = f"tls/127.0.0.1:{free_port()}"
    ca = pki["ca"][0]
    with (
        _bus(tls_settings(ca, *pki["device"], listen=endpoint)) as device,
        _bus(tls_settings(ca, *pki["peer"], connect=endpoint)) as peer,
    ):
        assert _delivered(device, peer)


def test_peer_with_a_certificate_from_another_ca_gets_nothing(pki: dict[str, tuple[Path, Path]]) -> None:
    endpoint = f"tls/127.0.0.1:{free_port()}"
    with (
        _bus(tls_settings(pki["ca"][0], *pki["device"], listen=endpoint)) as device,
        _bus(tls_settings(pki["other_ca"][0], *pki["stranger"], connect=endpoint)) as stranger,
    ):
        assert not _delivered(device, stranger, attempts=8)
