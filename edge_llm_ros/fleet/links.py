"""What crosses the uplink, under which keys, and the zenoh configs of fleet routers and clients.

Data keys are rmw_zenoh topic keys with the vehicle as ROS namespace (`0/v1/edge_llm/decision/
std_msgs::msg::dds_::String_/RIHS01_...`), so two vehicles never share a key and a ROS 2 node on
rmw_zenoh behind the cloud router sees `/v1/edge_llm/decision`. The attachment is rmw_zenoh's
(sequence number, source timestamp, GID); on the reliable streams its sequence number is the
store-and-forward sequence the cloud acknowledges. Control keys (acks, operator requests, the
cloud's liveliness) live under `fleet/`.

Policy sits in the vehicle router's config, not only in the publisher: per-stream priority
(`qos/network` overwrite; decisions `data` + express, the bulk below, see STREAMS) and per-stream rate limits
(`downsampling` on egress over TLS and QUIC, i.e. the uplink), so a misbehaving publisher on the vehicle
cannot flood the uplink or jump the decision queue.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import zenoh

from edge_llm_ros.fleet.certs import HostCredentials
from edge_llm_ros.msgs.codec import get_codec
from edge_llm_ros.nodes import topics
from edge_llm_ros.transport.zenoh_keys import topic_key

DOMAIN_ID = 0
#: Ports of the cloud router's inter-host listeners: TLS over TCP (router uplinks) and QUIC (TLS 1.3
#: inside, the vehicles' second decision path); the local TCP hub is rmw_zenoh's 7447.
UPLINK_PORT = 7448
FAST_PORT = 7449
LOCAL_HUB = "tcp/127.0.0.1:7447"
CLOUD_ALIVE_KEY = "fleet/cloud/alive"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"


@dataclass(frozen=True)
class Stream:
    """One kind of uplink traffic."""

    name: str
    topic: str  # without the vehicle namespace
    typename: str
    #: Sequenced, buffered on the vehicle until the cloud acknowledges it, resent after a cut.
    reliable: bool
    priority: str  # zenoh priority name, enforced by the vehicle router
    #: Rate limit on the uplink (samples/s per key) by router downsampling; 0 = none.
    max_hz: float = 0.0


# Priorities: nothing above `data`. zenoh 1.10 may send a router's key-expression declarations
# at `data` (its DECLARE QoS); a higher-priority sample can then overtake a declaration it
# depends on, and after a reconnect the cloud router dropped a restored vehicle's data as "Route
# data with unknown scope" for seconds. Keeping decisions in the `data` FIFO did not make that go
# away on a 1 Mbit/s uplink (docs/scaling.md), so this is a suspicion, not a fix; the bulk still
# goes below decisions.
STREAMS: tuple[Stream, ...] = (
    Stream("decision", topics.DECISION_TOPIC, topics.STRING, True, "data"),
    Stream("advisory", topics.ADVISORY_TOPIC, topics.STRING, True, "data"),
    # Latest-wins, summarised: the decision record already names every object and its class.
    Stream("detections", topics.DETECTIONS_TOPIC, topics.DETECTIONS, False, "data_low", 5.0),
    Stream("diagnostics", topics.DIAGNOSTICS_TOPIC, topics.DIAGNOSTICS, False, "data_low", 1.0),
    # Event-triggered (a BRAKE), downsampled JPEG.
    Stream("snapshot", "/edge_llm/snapshot/compressed", COMPRESSED_IMAGE, False, "background", 2.0),
    # Raw camera frames: only after an operator asks, and then at most 1 Hz.
    Stream("raw_camera", "/camera/image_raw", topics.IMAGE, False, "background", 1.0),
)
STREAM_BY_NAME = {s.name: s for s in STREAMS}


def stream_key(vehicle: str, stream: Stream) -> str:
    """The rmw_zenoh key of a stream under the vehicle's ROS namespace."""
    codec = get_codec()
    return topic_key(DOMAIN_ID, f"/{vehicle}{stream.topic}", stream.typename, codec.type_hash(stream.typename))


def stream_pattern(stream: Stream) -> str:
    """A key expression matching `stream` of every vehicle."""
    return f"{DOMAIN_ID}/*{stream.topic}/**"


def stream_of_key(key: str) -> tuple[str, Stream | None]:
    """(vehicle, stream) of an uplink data key; stream None for a topic that is not an uplink stream."""
    parts = key.split("/")
    vehicle = parts[1] if len(parts) > 1 else ""
    topic = "/" + "/".join(parts[2:-2]) if len(parts) > 4 else ""
    for stream in STREAMS:
        if topic == stream.topic:
            return vehicle, stream
    return vehicle, None


def ack_key(vehicle: str) -> str:
    """Where the cloud acknowledges a vehicle's reliable streams (JSON {stream: contiguous seq})."""
    return f"fleet/{vehicle}/ack"


def ops_key(vehicle: str, op: str = "**") -> str:
    """The vehicle's operator-request queryable."""
    return f"fleet/{vehicle}/ops/{op}"


def _tls(creds: HostCredentials) -> dict[str, Any]:
    return {
        "root_ca_certificate": str(creds.ca),
        "listen_private_key": str(creds.private_key),
        "listen_certificate": str(creds.certificate),
        "connect_private_key": str(creds.private_key),
        "connect_certificate": str(creds.certificate),
        "enable_mtls": True,
        "verify_name_on_connect": True,
    }


def _common(mode: str, listen: Sequence[str], connect: Sequence[str], lease_ms: int) -> dict[str, Any]:
    return {
        "mode": mode,
        "listen/endpoints": list(listen),
        "connect/endpoints": list(connect),
        # Only our own endpoints: no multicast, no gossip between hosts.
        "scouting/multicast/enabled": False,
        "scouting/gossip/enabled": False,
        "timestamping/enabled": {"router": True, "peer": True, "client": True},
        # A dead uplink must be noticed (and its routes dropped) within the lease, so the vehicle
        # buffers instead of queueing into a dead TCP connection, and reconnects promptly.
        "transport/link/tx/lease": lease_ms,
        "transport/link/tx/keep_alive": 4,
    }


def vehicle_router_config(cloud_address: str, creds: HostCredentials, lease_ms: int = 2000) -> dict[str, Any]:
    """Vehicle router: local hub on loopback, mTLS uplink to the cloud router, uplink policy."""
    config = _common("router", [LOCAL_HUB], [f"tls/{cloud_address}:{UPLINK_PORT}"], lease_ms)
    config["transport/link/tls"] = _tls(creds)
    # Retry the uplink often: a restored link is used within ~0.5 s (zenoh's default grows to 4 s).
    config["connect/retry"] = {"period_init_ms": 200, "period_max_ms": 500, "period_increase_factor": 1.5}
    # Give up on a connection attempt after 1 s and start a new one: an attempt begun during a
    # cut would otherwise wait out TCP's SYN backoff (1 s steps, then 2, 4, 8 s) after the link
    # returns.
    config["transport/unicast/open_timeout"] = 1000
    # zenoh drops a DROP-congestion sample after waiting 1 ms for room in its priority queue
    # (1-2 batches); behind a TCP retransmission on a lossy uplink that dropped whole decisions,
    # which then waited for a store-and-forward resend. Wait up to 50 ms and queue more.
    config["transport/link/tx/queue/congestion_control/drop/wait_before_drop"] = 50_000
    config["transport/link/tx/queue/size"] = {
        "control": 2,
        "real_time": 2,
        "interactive_high": 2,
        "interactive_low": 2,
        "data_high": 2,
        "data": 8,  # decisions, advisories (and zenoh's declarations)
        "data_low": 4,
        "background": 2,
    }
    config["downsampling"] = [
        {
            "id": "uplink_rates",
            "flows": ["egress"],
            # Both uplink links: best-effort streams ride the QUIC one (loopback faces are exempt).
            "link_protocols": ["tls", "quic"],
            "messages": ["put"],
            "rules": [{"key_expr": stream_pattern(s), "freq": s.max_hz} for s in STREAMS if s.max_hz > 0],
        }
    ]
    config["qos/network"] = [
        {
            "id": f"priority_{s.name}",
            "flows": ["egress"],
            "messages": ["put"],
            "key_exprs": [stream_pattern(s)],
            "overwrite": {"priority": s.priority, **({"express": True} if s.reliable else {})},
        }
        for s in STREAMS
    ]
    return config


def cloud_router_config(cloud_address: str, creds: HostCredentials, lease_ms: int = 2000) -> dict[str, Any]:
    """Cloud router: mTLS listener for vehicles on the WAN, local hub for cloud subscribers."""
    listen = [f"tls/{cloud_address}:{UPLINK_PORT}", f"quic/{cloud_address}:{FAST_PORT}", LOCAL_HUB]
    config = _common("router", listen, [], lease_ms)
    config["transport/link/tls"] = _tls(creds)
    return config


def fast_client_config(cloud_address: str, creds: HostCredentials, lease_ms: int = 2000) -> dict[str, Any]:
    """The vehicle's second path: a client session straight to the cloud router over QUIC (mTLS).

    It carries one copy of every decision besides the reliable one through the vehicle router.
    Two transports (TCP and QUIC, separate congestion and loss recovery) are rarely slow for the
    same decision, so the first copy to arrive is on time even on a lossy link. (One transport
    with both links, zenoh's max_links 2, did the same, but a cut left its half-dead transport in
    place and the restored uplink took seconds longer to come back.)
    """
    config = _common("client", [], [f"quic/{cloud_address}:{FAST_PORT}"], lease_ms)
    config["transport/link/tls"] = _tls(creds)
    # Keep trying forever (a client gives up by default) and restart a stuck attempt after 1 s.
    config["connect/timeout_ms"] = -1
    config["connect/exit_on_failure"] = False
    config["connect/retry"] = {"period_init_ms": 200, "period_max_ms": 500, "period_increase_factor": 1.5}
    config["transport/unicast/open_timeout"] = 1000
    return config


def local_client_config(lease_ms: int = 2000) -> dict[str, Any]:
    """A client of the host's own router (vehicle uplink agent, cloud subscriber)."""
    return _common("client", [], [LOCAL_HUB], lease_ms)


def to_zenoh_config(values: Mapping[str, Any]) -> zenoh.Config:
    """A zenoh.Config from {json path: value}."""
    config = zenoh.Config()
    for path, value in values.items():
        config.insert_json5(path, json.dumps(value))
    return config
