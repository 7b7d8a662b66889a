"""In-process bus: deterministic delivery inside one Python process.

The embedded default for `run`/`replay` and tests. Samples are still CDR bytes, so a pipeline that
works here sends the same payloads over zenoh or rclpy. Delivery is synchronous into each
reader's keep-last queue, in publish order, so a replay is reproducible run after run.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from typing import Any

from edge_llm_ros.msgs.codec import MessageCodec
from edge_llm_ros.transport.bus import (
    Bus,
    BusNode,
    Capability,
    MessageInfo,
    NodeEvent,
    Publisher,
    Sample,
    Service,
    ServiceHandler,
    Subscription,
    TransportError,
)
from edge_llm_ros.transport.qos import Durability, QoSProfile
from edge_llm_ros.transport.sample_queue import SampleQueue


class _InprocPublisher(Publisher):
    def __init__(self, node: InprocNode, topic: str, typename: str, qos: QoSProfile) -> None:
        super().__init__(topic, typename, qos, node.bus.codec)
        self._bus = node.bus
        self._history: deque[Sample] | None = (
            deque(maxlen=qos.depth) if qos.durability is Durability.TRANSIENT_LOCAL else None
        )
        self.closed = False

    def publish_raw(self, data: bytes, source_timestamp_ns: int | None = None) -> None:
        if self.closed:
            raise TransportError(f"publisher on {self.topic} is closed")
        info = MessageInfo(source_timestamp_ns or time.time_ns(), self.next_sequence(), self.gid)
        self.published += 1
        self._bus._deliver(self, bytes(data), info)

    def transient_history(self) -> list[Sample]:
        return list(self._history) if self._history is not None else []

    def remember(self, sample: Sample) -> None:
        if self._history is not None:
            self._history.append(sample)

    def close(self) -> None:
        self.closed = True
        self._bus._publishers[self.topic].discard(self)


class _InprocSubscription(Subscription):
    def __init__(
        self, bus: InprocBus, topic: str, typename: str, qos: QoSProfile, queue: SampleQueue
    ) -> None:
        super().__init__(topic, typename, qos, queue)
        self._bus = bus

    def close(self) -> None:
        if self in self._bus._subscriptions[self.topic]:
            self._bus._subscriptions[self.topic].remove(self)
        self.queue.close()


class _InprocService(Service):
    def __init__(self, bus: InprocBus, name: str, srvtype: str, handler: ServiceHandler) -> None:
        super().__init__(name, srvtype, handler)
        self._bus = bus

    def close(self) -> None:
        if self._bus._services.get(self.name) is self:
            del self._bus._services[self.name]


class InprocNode(BusNode):
    """A node on the in-process bus."""

    bus: InprocBus

    def __init__(self, bus: InprocBus, name: str, namespace: str) -> None:
        super().__init__(bus, name, namespace)
        self._closables: list[Publisher | Subscription | Service] = []

    def create_publisher(self, topic: str, typename: str, qos: QoSProfile) -> Publisher:
        self.bus.codec.msg_class(typename)
        pub = _InprocPublisher(self, topic, typename, qos)
        self.bus._check_type(topic, typename)
        self.bus._publishers[topic].add(pub)
        self._closables.append(pub)
        return pub

    def create_subscription(
        self, topic: str, typename: str, qos: QoSProfile, on_ready: Callable[[], None] | None = None
    ) -> Subscription:
        self.bus.codec.msg_class(typename)
        self.bus._check_type(topic, typename)
        sub = _InprocSubscription(self.bus, topic, typename, qos, SampleQueue(qos, on_ready))
        self.bus._subscriptions[topic].append(sub)
        self._closables.append(sub)
        if qos.durability is Durability.TRANSIENT_LOCAL:
            for pub in list(self.bus._publishers[topic]):
                for sample in pub.transient_history():
                    sub.queue.put(sample)
        return sub

    def create_service(self, name: str, srvtype: str, handler: ServiceHandler) -> Service:
        if name in self.bus._services:
            raise TransportError(f"service {name} already has a server")
        srv = _InprocService(self.bus, name, srvtype, handler)
        self.bus._services[name] = srv
        self._closables.append(srv)
        return srv

    def call_service(self, name: str, srvtype: str, request: bytes, timeout_s: float) -> bytes:
        srv = self.bus._services.get(name)
        if srv is None:
            raise TransportError(f"service {name} is not available")
        if srv.srvtype != srvtype:
            raise TransportError(f"service {name} has type {srv.srvtype}, not {srvtype}")
        # The handler runs in the caller's thread, so `timeout_s` cannot interrupt it; a failing
        # handler surfaces as TransportError, as it does on the other adapters.
        try:
            return srv.handler(request)
        except Exception as exc:
            raise TransportError(f"service {name} failed: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        for item in reversed(self._closables):
            item.close()
        self._closables.clear()
        self.bus._remove_node(self)


class InprocBus(Bus):
    """All nodes of the process share one InprocBus."""

    name = "inproc"
    # Best-effort is delivered reliably in-process (a superset of the contract); deadline is
    # enforced by the runtime's watchdogs, not the bus.
    honoured_qos = frozenset({"reliability", "history", "depth", "durability", "lifespan"})
    capabilities: frozenset[Capability] = frozenset()

    @classmethod
    def open(cls, config: Mapping[str, Any] | None = None, codec: MessageCodec | None = None) -> InprocBus:
        """An inproc bus; it has no settings."""
        if config:
            raise TransportError(f"the inproc bus takes no configuration, got {sorted(config)}")
        return cls(codec)

    def __init__(self, codec: MessageCodec | None = None) -> None:
        super().__init__(codec)
        self._publishers: dict[str, set[_InprocPublisher]] = defaultdict(set)
        self._subscriptions: dict[str, list[_InprocSubscription]] = defaultdict(list)
        self._services: dict[str, _InprocService] = {}
        self._types: dict[str, str] = {}
        self._nodes: list[InprocNode] = []
        self._watchers: list[Callable[[NodeEvent], None]] = []
        self._lock = threading.RLock()
        self.closed = False

    def _check_type(self, topic: str, typename: str) -> None:
        known = self._types.setdefault(topic, typename)
        if known != typename:
            raise TransportError(f"topic {topic} carries {known}; cannot also use it for {typename}")

    def _deliver(self, pub: _InprocPublisher, data: bytes, info: MessageInfo) -> None:
        sample = Sample(pub.topic, pub.typename, data, info)
        pub.remember(sample)
        # Subscriptions are kept in creation order so delivery order is reproducible. Like
        # rmw_zenoh, reliability never prevents matching (DDS would refuse a reliable reader on a
        # best-effort writer); in one process every sample arrives anyway.
        for sub in list(self._subscriptions[pub.topic]):
            sub.queue.put(sample)

    def create_node(self, name: str, namespace: str = "/") -> InprocNode:
        if self.closed:
            raise TransportError("bus is closed")
        node = InprocNode(self, name, namespace)
        with self._lock:
            self._nodes.append(node)
            watchers = list(self._watchers)
        for watcher in watchers:
            watcher(NodeEvent(name, namespace, True))
        return node

    def _remove_node(self, node: InprocNode) -> None:
        with self._lock:
            if node not in self._nodes:
                return
            self._nodes.remove(node)
            watchers = list(self._watchers)
        for watcher in watchers:
            watcher(NodeEvent(node.name, node.namespace, False))

    def watch_nodes(self, callback: Callable[[NodeEvent], None]) -> Callable[[], None]:
        with self._lock:
            self._watchers.append(callback)
            current = [(n.name, n.namespace) for n in self._nodes]
        for name, ns in current:
            callback(NodeEvent(name, ns, True))
        return lambda: self._watchers.remove(callback) if callback in self._watchers else None

    def close(self) -> None:
        if self.closed:
            return
        for node in list(self._nodes):
            node.close()
        self.closed = True
