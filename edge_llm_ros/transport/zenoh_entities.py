"""The entities a zenoh node declares: publishers, subscriptions, service servers and clients.

Each holds its zenoh declaration and its rmw_zenoh liveliness token. They reach their node and
session through the small protocols below, which ZenohNode and ZenohBus (zenoh_bus.py) satisfy,
so this module does not import the adapter that creates them.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import zenoh
import zenoh.ext

from edge_llm_ros.msgs.codec import MessageCodec
from edge_llm_ros.transport.bus import Publisher, Sample, Service, ServiceHandler, Subscription, TransportError, new_gid
from edge_llm_ros.transport.qos import SERVICES_DEFAULT, Durability, History, QoSProfile, Reliability
from edge_llm_ros.transport.sample_queue import SampleQueue
from edge_llm_ros.transport.zenoh_attachment import AttachmentError, pack_attachment, parse_attachment
from edge_llm_ros.transport.zenoh_keys import (
    EntityKind,
    LivelinessEntity,
    TopicInfo,
    dds_service_type_name,
    dds_type_name,
    service_key,
    topic_key,
)

#: Period of the sample-miss heartbeat of reliable transient-local publishers (rmw_zenoh: 500 ms).
_HEARTBEAT_S = 0.5


class ZenohCounters:
    """Thread-safe counts of what the adapter rejected or survived (never raised into zenoh)."""

    NAMES = (
        "malformed_attachment",  # sample without rmw_zenoh's 33-byte attachment
        "malformed_payload",  # payload failed the configured CDR validation
        "malformed_request",  # service request without a valid attachment
        "malformed_liveliness",  # liveliness token that is not rmw_zenoh's format
        "service_errors",  # a service handler raised
        "callback_errors",  # on_ready / watch callback raised, or an internal error
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(self.NAMES, 0)

    def add(self, name: str, n: int = 1) -> None:
        """Increment counter `name`."""
        with self._lock:
            self._values[name] += n

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._values[name]

    def as_dict(self) -> dict[str, int]:
        """A snapshot of all counters."""
        with self._lock:
            return dict(self._values)


def zenoh_qos(qos: QoSProfile) -> tuple[zenoh.Reliability, zenoh.CongestionControl]:
    # rmw_zenoh: reliable -> RELIABLE, and BLOCK only for reliable + keep_all; else DROP.
    if qos.reliability is Reliability.RELIABLE:
        block = qos.history is History.KEEP_ALL
        return zenoh.Reliability.RELIABLE, (zenoh.CongestionControl.BLOCK if block else zenoh.CongestionControl.DROP)
    return zenoh.Reliability.BEST_EFFORT, zenoh.CongestionControl.DROP


def zbytes(value: zenoh.ZBytes | None) -> bytes | None:
    return None if value is None else value.to_bytes()


def direct_callback(callback: Callable[[Any], None]) -> Any:
    """Run `callback` on zenoh's own receive thread.

    zenoh-python's default (indirect) callbacks each get a non-daemon Python thread that lives
    until the entity is undeclared; at interpreter exit threading joins those threads *before*
    atexit hooks could close the session, so a process that forgets close() hangs forever. Our
    callbacks are short and never raise, so running them in place is safe and saves a thread
    hop per sample.
    """
    return zenoh.handlers.Callback(callback, indirect=False)


def undeclare(*entities: Any) -> None:
    for entity in entities:
        if entity is None:
            continue
        # The session may already be closed, which undeclares everything anyway.
        with contextlib.suppress(zenoh.ZError):
            entity.undeclare()


class EntitySession(Protocol):
    """What an entity needs of the bus (ZenohBus) it is declared on."""

    session: zenoh.Session
    codec: MessageCodec
    counters: ZenohCounters
    domain_id: int
    service_pool: ThreadPoolExecutor

    def service_type_hash(self, srvtype: str) -> str:
        """The type hash rmw_zenoh puts in a service's key."""
        ...

    def decode_sample(self, sub: ZenohSubscription, zsample: zenoh.Sample) -> Sample | None:
        """The Sample of a zenoh sample, or None (counted) when its attachment or payload is bad."""
        ...

    def forget_service(self, srv: Service) -> None:
        """A service server was undeclared."""
        ...


class EntityOwner(Protocol):
    """What an entity needs of the node (ZenohNode) that declares it."""

    @property
    def bus(self) -> EntitySession:
        """The session the node lives on."""
        ...

    def entity_for(self, kind: EntityKind, topic: TopicInfo) -> LivelinessEntity:
        """The liveliness entity of a new publisher, subscription, service or client of the node."""
        ...


class ZenohPublisher(Publisher):
    def __init__(self, node: EntityOwner, topic: str, typename: str, qos: QoSProfile) -> None:
        bus = node.bus
        super().__init__(topic, typename, qos, bus.codec)
        type_hash = bus.codec.type_hash(typename)
        self.key = topic_key(bus.domain_id, topic, typename, type_hash)
        self._lock = threading.Lock()
        self.closed = False
        reliability, congestion = zenoh_qos(qos)
        session = bus.session
        if qos.durability is Durability.TRANSIENT_LOCAL:
            self._pub: Any = zenoh.ext.declare_advanced_publisher(
                session,
                self.key,
                congestion_control=congestion,
                reliability=reliability,
                cache=zenoh.ext.CacheConfig(qos.depth),
                publisher_detection=True,
                sample_miss_detection=(
                    zenoh.ext.MissDetectionConfig(heartbeat=None, sporadic_heartbeat=_HEARTBEAT_S)
                    if qos.reliability is Reliability.RELIABLE
                    else None
                ),
            )
        else:
            self._pub = session.declare_publisher(self.key, congestion_control=congestion, reliability=reliability)
        self.entity = node.entity_for(EntityKind.PUBLISHER, TopicInfo(topic, dds_type_name(typename), type_hash, qos))
        self._token = session.liveliness().declare_token(self.entity.key())

    @property
    def has_subscribers(self) -> bool:
        """Whether zenoh currently routes this topic to at least one subscriber (any process)."""
        if self.closed:
            return False
        if not isinstance(self._pub, zenoh.Publisher):
            # zenoh-ext's advanced publisher exposes no matching status; its cache covers late joiners.
            return True
        # The stubs say bool; 1.10 returns a MatchingStatus with `.matching`.
        status: Any = self._pub.matching_status
        return bool(getattr(status, "matching", status))

    def publish_raw(self, data: bytes, source_timestamp_ns: int | None = None) -> None:
        if self.closed:
            raise TransportError(f"publisher on {self.topic} is closed")
        payload = data if isinstance(data, bytes) else bytes(data)
        with self._lock:
            # Sequence numbers leave in the order they were drawn, even across threads.
            seq = self.next_sequence()
            attachment = pack_attachment(seq, source_timestamp_ns or time.time_ns(), self.gid)
            try:
                self._pub.put(payload, attachment=attachment)
            except zenoh.ZError as exc:
                raise TransportError(f"publish on {self.topic} failed: {exc}") from exc
            self.published += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        undeclare(self._token, self._pub)


class ZenohSubscription(Subscription):
    def __init__(
        self,
        node: EntityOwner,
        topic: str,
        typename: str,
        qos: QoSProfile,
        on_ready: Callable[[], None] | None,
    ) -> None:
        super().__init__(topic, typename, qos, SampleQueue(qos, on_ready))
        bus = node.bus
        self._bus = bus
        #: Samples this reader refused (bad attachment or payload); also in bus.counters.
        self.rejected = 0
        type_hash = bus.codec.type_hash(typename)
        self.key = topic_key(bus.domain_id, topic, typename, type_hash)
        session = bus.session
        if qos.durability is Durability.TRANSIENT_LOCAL:
            self._sub: Any = zenoh.ext.declare_advanced_subscriber(
                session,
                self.key,
                direct_callback(self._on_sample),
                history=zenoh.ext.HistoryConfig(
                    detect_late_publishers=True,
                    max_samples=qos.depth,
                ),
                recovery=(
                    zenoh.ext.RecoveryConfig(periodic_queries=None, heartbeat=True)
                    if qos.reliability is Reliability.RELIABLE
                    else None
                ),
                subscriber_detection=True,
            )
        else:
            self._sub = session.declare_subscriber(self.key, direct_callback(self._on_sample))
        info = TopicInfo(topic, dds_type_name(typename), type_hash, qos)
        self.entity = node.entity_for(EntityKind.SUBSCRIPTION, info)
        self._token: zenoh.LivelinessToken | None = session.liveliness().declare_token(self.entity.key())

    def _on_sample(self, zsample: zenoh.Sample) -> None:
        # Runs on a zenoh thread: nothing may escape.
        try:
            sample = self._bus.decode_sample(self, zsample)
            if sample is None:
                self.rejected += 1
                return
            self.queue.put(sample)
        except Exception:
            self._bus.counters.add("callback_errors")

    def close(self) -> None:
        undeclare(self._token, self._sub)
        self._token = self._sub = None
        self.queue.close()


class ZenohService(Service):
    def __init__(self, node: EntityOwner, name: str, srvtype: str, handler: ServiceHandler) -> None:
        super().__init__(name, srvtype, handler)
        bus = node.bus
        self._bus = bus
        type_hash = bus.service_type_hash(srvtype)
        self.key = service_key(bus.domain_id, name, srvtype, type_hash)
        self.closed = False
        session = bus.session
        self._queryable = session.declare_queryable(self.key, direct_callback(self._on_query), complete=True)
        self.entity = node.entity_for(
            EntityKind.SERVICE, TopicInfo(name, dds_service_type_name(srvtype), type_hash, SERVICES_DEFAULT)
        )
        self._token = session.liveliness().declare_token(self.entity.key())

    def _on_query(self, query: zenoh.Query) -> None:
        # Runs on a zenoh thread: validate, then hand the work to the bus's service pool.
        try:
            try:
                request_info = parse_attachment(zbytes(query.attachment))
            except AttachmentError as exc:
                self._bus.counters.add("malformed_request")
                query.reply_err(f"{self.name}: bad request attachment ({exc})")
                return
            request = zbytes(query.payload) or b""
            self._bus.service_pool.submit(self._serve, query, request, request_info.sequence_number, request_info.gid)
        except Exception:
            self._bus.counters.add("callback_errors")

    def _serve(self, query: zenoh.Query, request: bytes, sequence: int, client_gid: bytes) -> None:
        try:
            try:
                response = self.handler(request)
            except Exception as exc:
                self._bus.counters.add("service_errors")
                query.reply_err(f"service {self.name} failed: {type(exc).__name__}: {exc}")
                return
            attachment = pack_attachment(sequence, time.time_ns(), client_gid)
            query.reply(self.key, bytes(response), attachment=attachment)
        except Exception:
            self._bus.counters.add("callback_errors")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        undeclare(self._token, self._queryable)
        self._bus.forget_service(self)


class ZenohClient:
    """What rmw_zenoh keeps per service client: a GID, a sequence counter and an SC token."""

    def __init__(self, node: EntityOwner, name: str, srvtype: str) -> None:
        bus = node.bus
        type_hash = bus.service_type_hash(srvtype)
        self.key = service_key(bus.domain_id, name, srvtype, type_hash)
        self.gid = new_gid()
        self._sequence = itertools.count(1)
        entity = node.entity_for(
            EntityKind.CLIENT, TopicInfo(name, dds_service_type_name(srvtype), type_hash, SERVICES_DEFAULT)
        )
        self._token = bus.session.liveliness().declare_token(entity.key())

    def next_sequence(self) -> int:
        return next(self._sequence)

    def close(self) -> None:
        undeclare(self._token)


