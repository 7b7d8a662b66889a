"""The zenoh adapter of the Bus port, speaking rmw_zenoh's wire format.

What goes on the wire is what rmw_zenoh_cpp (Humble/Jazzy) sends, so ROS 2 nodes running
rmw_zenoh see our topics, services and nodes and we see theirs:

- a topic is a zenoh publisher/subscriber on ``<domain>/<topic>/<pkg>::msg::dds_::<Name>_/<hash>``
  (zenoh_keys.topic_key); the payload is the codec's CDR bytes with encapsulation header; each
  sample carries the 33-byte attachment (sequence number, source timestamp, publisher GID;
  zenoh_attachment), which the receiver turns into MessageInfo;
- a service is a complete queryable on ``<domain>/<service>/<pkg>::srv::dds_::<Name>_/<hash>``;
  a call is a get (target ALL_COMPLETE, no consolidation) with the request's CDR and the same
  attachment layout (client sequence number and GID), answered with the response's CDR and an
  attachment echoing them;
- every node, publisher, subscription, service server and client holds a liveliness token under
  ``@ros2_lv/<domain>/...`` (zenoh_keys.LivelinessEntity); `watch_nodes` follows the node tokens.

Threads. zenoh calls us back directly on its receive threads (not through zenoh-python's default
extra Python thread per callback, which would keep a forgetful process from exiting). Sample
callbacks only parse the attachment, check the payload and put the sample into the reader's
keep-last SampleQueue, then call `on_ready`, which must be quick (an executor wake-up). Service handlers run on a
small pool owned by the bus, and node-watch callbacks on one ordered event thread, so user code
that blocks (a handler calling another service, a manager reacting to a death) never stalls
zenoh's receive path. Nothing raised in a callback escapes into zenoh: malformed attachments or
payloads, bad requests and failing callbacks are dropped and counted in `ZenohBus.counters`.

QoS. Honoured: reliability (zenoh reliability + DROP/BLOCK congestion control as rmw_zenoh maps
them), history/depth (reader-side keep-last via SampleQueue; keep_all + reliable blocks the writer),
durability (transient_local uses zenoh-ext's advanced publisher cache of `depth` samples and an
advanced subscriber that fetches it, as rmw_zenoh does), lifespan (reader-side expiry by source
timestamp). Not honoured: deadline (the runtime's watchdogs enforce it), liveliness kinds other
than automatic (as in rmw_zenoh).

Not bit-identical to rmw_zenoh: a publisher's GID is a random UUID (rmw_zenoh hashes the token key
with XXH3-128; GIDs are opaque to receivers). Service type hashes: see `ZenohBus.service_type_hash`.
Session set-up and discovery: see zenoh_config.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import zenoh
import zenoh.ext

from edge_llm_ros.msgs.codec import CodecError, MessageCodec
from edge_llm_ros.transport import names
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
from edge_llm_ros.transport.qos import QoSProfile
from edge_llm_ros.transport.zenoh_attachment import AttachmentError, pack_attachment, parse_attachment
from edge_llm_ros.transport.zenoh_config import ZenohSettings, open_session
from edge_llm_ros.transport.zenoh_entities import (
    ZenohClient,
    ZenohCounters,
    ZenohPublisher,
    ZenohService,
    ZenohSubscription,
    direct_callback,
    undeclare,
    zbytes,
)
from edge_llm_ros.transport.zenoh_keys import (
    EntityKind,
    InvalidKeyError,
    LivelinessEntity,
    TopicInfo,
    liveliness_subscription_key,
    service_type_hash,
)

# CDR_LE/CDR_BE and their parameter-list forms: the first two bytes of every ROS 2 payload.
_ENCAPSULATIONS = (b"\x00\x00", b"\x00\x01", b"\x00\x02", b"\x00\x03")
_SERVICE_WORKERS = 4



class ZenohNode(BusNode):
    """A node on a zenoh session: an NN liveliness token plus the entities it declares."""

    bus: ZenohBus

    def __init__(self, bus: ZenohBus, name: str, namespace: str) -> None:
        try:
            names.validate_node_name(name)
            namespace = names.validate_namespace(namespace)
        except names.InvalidNameError as exc:
            raise TransportError(str(exc)) from exc
        super().__init__(bus, name, namespace)
        # rmw_zenoh numbers nodes and entities from one per-session counter; a node's own token
        # uses its id twice.
        self.node_id = bus._next_entity_id()
        self._closables: list[Publisher | Subscription | Service | ZenohClient] = []
        self._clients: dict[tuple[str, str], ZenohClient] = {}
        self._lock = threading.Lock()
        self.closed = False
        self.entity = LivelinessEntity(
            bus.domain_id, bus.zid, self.node_id, self.node_id, EntityKind.NODE, namespace, name
        )
        self._token = bus.session.liveliness().declare_token(self.entity.key())

    def entity_for(self, kind: EntityKind, topic: TopicInfo) -> LivelinessEntity:
        return LivelinessEntity(
            self.bus.domain_id,
            self.bus.zid,
            self.node_id,
            self.bus._next_entity_id(),
            kind,
            self.namespace,
            self.name,
            topic=topic,
        )

    def _qualify(self, name: str) -> str:
        try:
            return names.expand(name, self.namespace, self.name)
        except names.InvalidNameError as exc:
            raise TransportError(str(exc)) from exc

    def _check_open(self) -> None:
        if self.closed or self.bus.closed:
            raise TransportError(f"node {self.fqn} is closed")

    def _declare(self, make: Callable[[], Any]) -> Any:
        self._check_open()
        try:
            entity = make()
        except (InvalidKeyError, AttachmentError) as exc:
            raise TransportError(str(exc)) from exc
        except zenoh.ZError as exc:
            raise TransportError(f"zenoh refused the declaration: {exc}") from exc
        with self._lock:
            self._closables.append(entity)
        return entity

    def create_publisher(self, topic: str, typename: str, qos: QoSProfile) -> Publisher:
        self.bus.codec.msg_class(typename)
        topic = self._qualify(topic)
        self.bus._check_type(topic, typename)
        pub: Publisher = self._declare(lambda: ZenohPublisher(self, topic, typename, qos))
        return pub

    def create_subscription(
        self, topic: str, typename: str, qos: QoSProfile, on_ready: Callable[[], None] | None = None
    ) -> Subscription:
        self.bus.codec.msg_class(typename)
        topic = self._qualify(topic)
        self.bus._check_type(topic, typename)
        sub: Subscription = self._declare(lambda: ZenohSubscription(self, topic, typename, qos, on_ready))
        return sub

    def create_service(self, name: str, srvtype: str, handler: ServiceHandler) -> Service:
        name = self._qualify(name)
        self.bus._claim_service(name)
        try:
            srv: Service = self._declare(lambda: ZenohService(self, name, srvtype, handler))
        except BaseException:
            self.bus._release_service(name)
            raise
        self.bus._register_service(name, srv)
        return srv

    def _client(self, name: str, srvtype: str) -> ZenohClient:
        with self._lock:
            client = self._clients.get((name, srvtype))
        if client is None:
            client = self._declare(lambda: ZenohClient(self, name, srvtype))
            with self._lock:
                client = self._clients.setdefault((name, srvtype), client)
        return client

    def call_service(self, name: str, srvtype: str, request: bytes, timeout_s: float) -> bytes:
        """Call and wait; a server that is not (yet) visible is retried until `timeout_s` ends.

        A server declared a moment ago in another process takes a few ms to become routable,
        so "nobody answered" is only final once the whole timeout has passed.
        """
        self._check_open()
        name = self._qualify(name)
        client = self._client(name, srvtype)
        payload = bytes(request)
        deadline = time.monotonic() + max(float(timeout_s), 0.001)
        backoff = 0.005
        while True:
            remaining = deadline - time.monotonic()
            attachment = pack_attachment(client.next_sequence(), time.time_ns(), client.gid)
            answered, response, errors = self._query(client.key, name, payload, attachment, remaining)
            if answered:
                return response
            if any(err.strip().lower() == "timeout" for err in errors):
                raise TransportError(f"service {name} did not answer within {timeout_s:g} s")
            if errors:
                raise TransportError(errors[0])
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                raise TransportError(f"service {name} ({srvtype}) is not available")
            time.sleep(min(backoff, remaining))
            backoff = min(backoff * 2, 0.1)

    def _query(
        self, key: str, name: str, payload: bytes, attachment: bytes, timeout_s: float
    ) -> tuple[bool, bytes, list[str]]:
        try:
            replies = self.bus.session.get(
                key,
                payload=payload,
                attachment=attachment,
                target=zenoh.QueryTarget.ALL_COMPLETE,
                consolidation=zenoh.ConsolidationMode.NONE,
                timeout=max(timeout_s, 0.001),
            )
        except zenoh.ZError as exc:
            raise TransportError(f"call to {name} failed: {exc}") from exc
        errors: list[str] = []
        # The channel ends when the query is finalised: answered, timed out, or nobody matched.
        for reply in replies:
            if reply.ok is not None:
                return True, reply.ok.payload.to_bytes(), errors
            if reply.err is not None:
                errors.append(reply.err.payload.to_bytes().decode("utf-8", errors="replace"))
        return False, b"", errors

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            closables = list(reversed(self._closables))
            self._closables.clear()
            self._clients.clear()
        for item in closables:
            item.close()
        undeclare(self._token)
        self.bus._remove_node(self)


_OPEN_BUSES: weakref.WeakSet[ZenohBus] = weakref.WeakSet()


@atexit.register
def _close_open_buses() -> None:
    # A process that exits with an open zenoh session can hang in zenoh's runtime teardown.
    for bus in list(_OPEN_BUSES):
        bus.close()


class ZenohBus(Bus):
    """One zenoh session for this process, on rmw_zenoh's wire format."""

    name = "zenoh"
    honoured_qos = frozenset({"reliability", "history", "depth", "durability", "lifespan"})
    capabilities = frozenset({Capability.MATCHING, Capability.SUBSCRIPTION_COUNT, Capability.MULTI_PROCESS})

    @classmethod
    def open(cls, config: Mapping[str, Any] | None = None, codec: MessageCodec | None = None) -> ZenohBus:
        """A session with zenoh_config settings (endpoints, mode, domain)."""
        return cls(config, codec)

    def __init__(
        self,
        config: Mapping[str, Any] | ZenohSettings | None = None,
        codec: MessageCodec | None = None,
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Open the session; `config` keys and env variables are described in zenoh_config."""
        super().__init__(codec)
        self.settings = config if isinstance(config, ZenohSettings) else ZenohSettings.load(config, env)
        self.domain_id = self.settings.domain_id
        self.counters = ZenohCounters()
        self.closed = False
        self._lock = threading.RLock()
        self._ids = itertools.count()
        self._nodes: list[ZenohNode] = []
        self._types: dict[str, str] = {}
        self._services: dict[str, Service | None] = {}
        self._watch_stops: list[Callable[[], None]] = []
        self._service_hashes: dict[str, str] = {}
        try:
            self.session, plan = open_session(self.settings)
        except zenoh.ZError as exc:
            raise TransportError(f"cannot open zenoh session ({self.settings.mode}): {exc}") from exc
        #: Whether this session holds the hub endpoint (see zenoh_config).
        self.is_hub = plan.is_hub
        self.listen_endpoints = plan.listen
        self.connect_endpoints = plan.connect
        self.zid = str(self.session.zid())
        self.service_pool = ThreadPoolExecutor(_SERVICE_WORKERS, thread_name_prefix="zenoh-service")
        self._events = ThreadPoolExecutor(1, thread_name_prefix="zenoh-events")
        _OPEN_BUSES.add(self)

    # ----------------------------------------------------------------- nodes
    def create_node(self, name: str, namespace: str = "/") -> ZenohNode:
        if self.closed:
            raise TransportError("bus is closed")
        try:
            node = ZenohNode(self, name, namespace)
        except zenoh.ZError as exc:
            raise TransportError(f"cannot declare node {name}: {exc}") from exc
        with self._lock:
            self._nodes.append(node)
        return node

    def _remove_node(self, node: ZenohNode) -> None:
        with self._lock:
            if node in self._nodes:
                self._nodes.remove(node)

    def _next_entity_id(self) -> int:
        with self._lock:
            return next(self._ids)

    # ----------------------------------------------------------------- bookkeeping
    def _check_type(self, topic: str, typename: str) -> None:
        # rmw_zenoh would just not match a different type (the type is in the key); refusing it
        # locally keeps the contract every adapter shares.
        with self._lock:
            known = self._types.setdefault(topic, typename)
        if known != typename:
            raise TransportError(f"topic {topic} carries {known}; cannot also use it for {typename}")

    def _claim_service(self, name: str) -> None:
        with self._lock:
            if name in self._services:
                raise TransportError(f"service {name} already has a server")
            self._services[name] = None

    def _release_service(self, name: str) -> None:
        with self._lock:
            self._services.pop(name, None)

    def _register_service(self, name: str, srv: Service) -> None:
        with self._lock:
            self._services[name] = srv

    def forget_service(self, srv: Service) -> None:
        with self._lock:
            if self._services.get(srv.name) is srv:
                del self._services[srv.name]

    def service_type_hash(self, srvtype: str) -> str:
        """The type hash a service's key carries (zenoh_keys.service_type_hash), cached per type."""
        with self._lock:
            cached = self._service_hashes.get(srvtype)
        if cached is not None:
            return cached
        value = service_type_hash(self.codec, srvtype, self.settings.service_type_hashes)
        with self._lock:
            self._service_hashes[srvtype] = value
        return value

    # ----------------------------------------------------------------- receive path
    def decode_sample(self, sub: ZenohSubscription, zsample: zenoh.Sample) -> Sample | None:
        """Turn a zenoh sample into a Sample, or count and drop it (None)."""
        try:
            meta = parse_attachment(zbytes(zsample.attachment))
        except AttachmentError:
            self.counters.add("malformed_attachment")
            return None
        payload = zsample.payload.to_bytes()
        if not self._payload_ok(payload, sub.typename):
            self.counters.add("malformed_payload")
            return None
        info = MessageInfo(meta.source_timestamp_ns, meta.sequence_number, meta.gid)
        return Sample(sub.topic, sub.typename, payload, info)

    def _payload_ok(self, payload: bytes, typename: str) -> bool:
        mode = self.settings.validate_payloads
        if mode == "none":
            return True
        if len(payload) < 4 or payload[:2] not in _ENCAPSULATIONS:
            return False
        if mode == "full":
            try:
                self.codec.deserialize(payload, typename)
            except CodecError:
                return False
        return True

    # ----------------------------------------------------------------- graph
    def subscription_count(self, topic: str, timeout_s: float = 1.0) -> int:
        """Subscriptions to `topic` announced on the graph right now (a liveliness query).

        A publisher's matching status only says "at least one"; a driver that must not lose the
        first samples waits until every expected reader is there.
        """
        if self.closed:
            raise TransportError("bus is closed")
        count = 0
        try:
            replies = self.session.liveliness().get(liveliness_subscription_key(self.domain_id), timeout=timeout_s)
            for reply in replies:
                if reply.ok is None:
                    continue
                try:
                    entity = LivelinessEntity.parse(str(reply.ok.key_expr))
                except InvalidKeyError:
                    continue
                if entity.kind is EntityKind.SUBSCRIPTION and entity.topic is not None and entity.topic.name == topic:
                    count += 1
        except zenoh.ZError as exc:
            raise TransportError(f"cannot query the graph: {exc}") from exc
        return count

    def watch_nodes(self, callback: Callable[[NodeEvent], None]) -> Callable[[], None]:
        if self.closed:
            raise TransportError("bus is closed")

        stopped = threading.Event()

        def deliver(event: NodeEvent) -> None:
            try:
                callback(event)
            except Exception:
                self.counters.add("callback_errors")

        def on_token(sample: zenoh.Sample) -> None:
            if self.closed or stopped.is_set():
                # Our own tokens vanish while we close; nobody is listening any more.
                return
            try:
                entity = LivelinessEntity.parse(str(sample.key_expr))
            except InvalidKeyError:
                self.counters.add("malformed_liveliness")
                return
            try:
                if entity.kind is EntityKind.NODE:
                    alive = sample.kind == zenoh.SampleKind.PUT
                    self._events.submit(deliver, NodeEvent(entity.node_name, entity.namespace, alive))
            except Exception:
                # e.g. the event pool is shut down while the bus closes.
                self.counters.add("callback_errors")

        try:
            subscriber = self.session.liveliness().declare_subscriber(
                liveliness_subscription_key(self.domain_id), direct_callback(on_token), history=True
            )
        except zenoh.ZError as exc:
            raise TransportError(f"cannot watch nodes: {exc}") from exc

        def stop() -> None:
            if not stopped.is_set():
                stopped.set()
                undeclare(subscriber)
                with self._lock:
                    if stop in self._watch_stops:
                        self._watch_stops.remove(stop)

        with self._lock:
            self._watch_stops.append(stop)
        return stop

    # ----------------------------------------------------------------- lifetime
    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            nodes = list(self._nodes)
            stops = list(self._watch_stops)
        for node in nodes:
            node.close()
        for stop in stops:
            stop()
        self._events.shutdown(wait=False, cancel_futures=True)
        self.service_pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(zenoh.ZError):
            self.session.close()
        _OPEN_BUSES.discard(self)
