"""The Bus port: what a node may ask of a middleware, independent of which one it is.

Payloads are always CDR bytes (see edge_llm_ros.msgs.codec), so every adapter carries the same
wire format and a sample can go from zenoh to a bag to rclpy unchanged. An adapter is created
per process (`Bus`); each node opens a `BusNode` on it, which owns the node's liveliness and its
publishers, subscriptions and services.
"""

from __future__ import annotations

import itertools
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edge_llm_ros._compat import StrEnum
from edge_llm_ros.msgs.codec import MessageCodec, get_codec
from edge_llm_ros.transport.qos import QoSProfile
from edge_llm_ros.transport.sample import UNKNOWN_PUBLISHER as UNKNOWN_PUBLISHER
from edge_llm_ros.transport.sample import MessageInfo as MessageInfo
from edge_llm_ros.transport.sample import Sample as Sample
from edge_llm_ros.transport.sample import new_gid as new_gid
from edge_llm_ros.transport.sample_queue import SampleQueue

# The sample types live in transport/sample.py so that sample_queue.py (below this port) can use
# them; they are re-exported here because every node and adapter names them as part of the port.


class TransportError(RuntimeError):
    """A middleware operation failed (session closed, service unavailable, timeout)."""


class Capability(StrEnum):
    """What an adapter can do beyond the port's minimum; each adapter declares its set in `Bus.capabilities`."""

    #: Publisher.has_subscribers says whether a subscriber is matched (else it is always True).
    MATCHING = "matching"
    #: Bus.subscription_count counts the subscribers of a topic across processes.
    SUBSCRIPTION_COUNT = "subscription_count"
    #: Nodes of one graph may live in other processes (a node process joins with `--transport NAME`).
    MULTI_PROCESS = "multi_process"


@dataclass(frozen=True)
class NodeEvent:
    """A node appeared (alive=True) or vanished (process died, session lost) on the bus."""

    name: str
    namespace: str
    alive: bool


class Publisher(ABC):
    """Sends CDR samples on one topic."""

    def __init__(self, topic: str, typename: str, qos: QoSProfile, codec: MessageCodec) -> None:
        self.topic = topic
        self.typename = typename
        self.qos = qos
        self.codec = codec
        self.gid = new_gid()
        self._sequence = itertools.count(1)
        self.published = 0

    def next_sequence(self) -> int:
        """Monotonic per-publisher sequence number, starting at 1 as in rmw."""
        return next(self._sequence)

    def publish(self, msg: Any) -> None:
        """Serialise and send a message object of this publisher's type."""
        self.publish_raw(self.codec.serialize(msg, self.typename))

    @abstractmethod
    def publish_raw(self, data: bytes, source_timestamp_ns: int | None = None) -> None:
        """Send an already-serialised CDR payload."""

    @property
    def has_subscribers(self) -> bool:
        """Whether a subscriber is matched; adapters without Capability.MATCHING cannot tell and say True."""
        return True

    @abstractmethod
    def close(self) -> None:
        """Undeclare the publisher."""


class Subscription(ABC):
    """Receives samples on one topic into a keep-last queue; `take()` pops the oldest."""

    def __init__(self, topic: str, typename: str, qos: QoSProfile, queue: SampleQueue) -> None:
        self.topic = topic
        self.typename = typename
        self.qos = qos
        self.queue = queue

    def take(self, timeout: float | None = 0.0) -> Sample | None:
        """The oldest undelivered sample, waiting up to `timeout` s (None: until one arrives)."""
        return self.queue.take(timeout)

    @property
    def dropped(self) -> int:
        """Samples lost to keep-last overflow or lifespan expiry."""
        return self.queue.dropped_overflow + self.queue.dropped_expired

    @abstractmethod
    def close(self) -> None:
        """Undeclare the subscription."""


ServiceHandler = Callable[[bytes], bytes]


class Service(ABC):
    """Answers CDR requests with CDR responses."""

    def __init__(self, name: str, srvtype: str, handler: ServiceHandler) -> None:
        self.name = name
        self.srvtype = srvtype
        self.handler = handler

    @abstractmethod
    def close(self) -> None:
        """Undeclare the service."""


class BusNode(ABC):
    """One node's presence on a bus. Topic and service names here are fully qualified."""

    def __init__(self, bus: Bus, name: str, namespace: str) -> None:
        self.bus = bus
        self.name = name
        self.namespace = namespace

    @property
    def fqn(self) -> str:
        """Fully-qualified node name, e.g. /vehicle/decision."""
        return f"{self.namespace.rstrip('/')}/{self.name}"

    @abstractmethod
    def create_publisher(self, topic: str, typename: str, qos: QoSProfile) -> Publisher:
        """Declare a publisher."""

    @abstractmethod
    def create_subscription(
        self, topic: str, typename: str, qos: QoSProfile, on_ready: Callable[[], None] | None = None
    ) -> Subscription:
        """Declare a subscription; `on_ready` is called (from any thread) after each arrival."""

    @abstractmethod
    def create_service(self, name: str, srvtype: str, handler: ServiceHandler) -> Service:
        """Declare a service server; the handler runs on the adapter's thread."""

    @abstractmethod
    def call_service(self, name: str, srvtype: str, request: bytes, timeout_s: float) -> bytes:
        """Call a service and wait for its response; raises TransportError on timeout/absence."""

    @abstractmethod
    def close(self) -> None:
        """Undeclare everything this node declared, including its liveliness."""


class Bus(ABC):
    """A middleware session for this process."""

    #: Short adapter name: 'inproc', 'zenoh', 'ros2'.
    name: str = ""
    #: QoS features the adapter enforces; others are accepted and documented as not honoured.
    honoured_qos: frozenset[str] = frozenset()
    #: What the adapter can do beyond the port's minimum (see Capability).
    capabilities: frozenset[Capability] = frozenset()

    def __init__(self, codec: MessageCodec | None = None) -> None:
        self.codec = codec or get_codec()
        self.pid = os.getpid()

    @classmethod
    @abstractmethod
    def open(cls, config: Mapping[str, Any] | None = None, codec: MessageCodec | None = None) -> Bus:
        """Open the adapter with its adapter-specific settings (what transport.factory calls)."""

    def subscription_count(self, topic: str, timeout_s: float = 1.0) -> int:
        """Subscribers of `topic` in every process; only adapters with Capability.SUBSCRIPTION_COUNT."""
        raise TransportError(f"the {self.name} bus cannot count subscriptions")

    @abstractmethod
    def create_node(self, name: str, namespace: str = "/") -> BusNode:
        """Open a node on this bus (declares its liveliness where the adapter has it)."""

    @abstractmethod
    def watch_nodes(self, callback: Callable[[NodeEvent], None]) -> Callable[[], None]:
        """Call back on node appearance/disappearance; returns a function that stops watching."""

    @abstractmethod
    def close(self) -> None:
        """Close the session and everything opened on it. Idempotent."""

    def __enter__(self) -> Bus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
