"""The Bus port over rclpy: what `ros2 launch` runs, on whichever RMW the ROS 2 install uses.

Design (kept deliberately thin; the decisions live in ros2_mapping.py, which is tested without
ROS 2; the entities a node declares are in ros2_entities.py):
- Payloads stay CDR bytes end to end, as on every adapter: publishers call rclpy's
  `publish(bytes)` (rmw publishes the serialized message unchanged) and subscriptions are
  `raw=True`, so rclpy never builds a Python message object on the data path. rclpy still needs
  the generated type support of each topic and service, found by name with
  rosidl_runtime_py.utilities.get_message/get_service: the ROS 2 message packages
  (std_msgs, sensor_msgs, vision_msgs, radar_msgs, ...) must be installed where this runs.
- Services: rclpy servers and clients only speak message objects, so requests and responses
  are converted at the boundary with rclpy.serialization (serialize_message/deserialize_message);
  handlers and callers still see CDR bytes.
- One rclpy Context per bus (its own, or the process's when a node is hosted by ros2_host), one
  MultiThreadedExecutor spinning every node of the bus on a daemon thread. Each subscription
  and service has a callback group of its own (its callbacks run one at a time, in order; others
  run in parallel) and data callbacks only push into the keep-last SampleQueue, so a slow
  lifecycle transition (model load) never holds up arriving samples.
- watch_nodes polls the ROS graph (node names and namespaces) every `graph_poll_s`. Under DDS a
  killed process disappears from the graph only when its participant lease expires (seconds);
  the lifecycle manager relies on heartbeats for fast detection and on this for completeness.

What rclpy cannot do, and what this adapter does instead:
- A caller-chosen source timestamp: rmw stamps each sample at write time; `source_timestamp_ns`
  of publish_raw is ignored.
- Publisher GIDs are not exposed to Python: MessageInfo.publisher_gid is 16 zero bytes.
- Humble passes no message info to subscription callbacks: source stamp = receive time and
  sequence numbers are counted per subscription. From Iron on, rmw's source timestamp and
  publication sequence number are used where the RMW provides them.
- Deadline and lifespan are requested from the RMW (which honours them or not: rmw_zenoh does
  not) and lifespan is also enforced by our SampleQueue against the source timestamp.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.serialization import deserialize_message, serialize_message
from rclpy.signals import SignalHandlerOptions

from edge_llm_ros.msgs.codec import CodecError, MessageCodec
from edge_llm_ros.transport import names
from edge_llm_ros.transport.bus import (
    Bus,
    BusNode,
    Capability,
    NodeEvent,
    Publisher,
    Service,
    ServiceHandler,
    Subscription,
    TransportError,
)
from edge_llm_ros.transport.qos import QoSProfile
from edge_llm_ros.transport.ros2_entities import (
    NativePublisher,
    NativeService,
    Ros2Publisher,
    Ros2Service,
    Ros2Subscription,
    message_type,
    service_type,
    to_rclpy_qos,
)
from edge_llm_ros.transport.ros2_mapping import native_names
from edge_llm_ros.transport.sample_queue import SampleQueue

_log = logging.getLogger(__name__)

CONFIG_KEYS = ("context", "adopt", "domain_id", "graph_poll_s", "executor_threads")


# ----------------------------------------------------------------------------------------- node
class Ros2Node(BusNode):
    """One rclpy node: created for this BusNode, or the hosted (adopted) node of ros2_host."""

    bus: Ros2Bus

    def __init__(self, bus: Ros2Bus, name: str, namespace: str, rclpy_node: Any, adopted: bool) -> None:
        super().__init__(bus, name, namespace)
        self.rclpy_node = rclpy_node
        self.adopted = adopted
        #: Service clients: their responses only complete futures, any thread may do that.
        self.group = ReentrantCallbackGroup()
        self._entities: list[Publisher | Subscription | Service] = []
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.closed = False
        if adopted:
            self._native_services, self._native_topics = native_names(self.fqn)
        else:
            self._native_services, self._native_topics = frozenset(), frozenset()

    def _forget(self, entity: Publisher | Subscription | Service) -> None:
        with self._lock:
            if entity in self._entities:
                self._entities.remove(entity)

    def _keep(self, entity: Publisher | Subscription | Service) -> None:
        with self._lock:
            self._entities.append(entity)

    def _check_open(self) -> None:
        if self.closed or self.bus.closed:
            raise TransportError(f"node {self.fqn} is closed")
        if not self.bus.context.ok():
            # Ctrl-C / launch shutdown: rclpy's signal handler shut the context down under us.
            raise TransportError(f"node {self.fqn}: the ROS 2 context is shut down")

    def create_publisher(self, topic: str, typename: str, qos: QoSProfile) -> Publisher:
        self._check_open()
        self.bus.codec.msg_class(typename)
        if topic in self._native_topics:
            return NativePublisher(topic, typename, qos, self.bus.codec)
        self.bus._check_type(topic, typename)
        self.bus._check_graph_type(self.rclpy_node, topic, typename)
        handle = self.rclpy_node.create_publisher(message_type(typename), topic, to_rclpy_qos(qos))
        pub = Ros2Publisher(self, topic, typename, qos, handle)
        self._keep(pub)
        return pub

    def create_subscription(
        self, topic: str, typename: str, qos: QoSProfile, on_ready: Callable[[], None] | None = None
    ) -> Subscription:
        self._check_open()
        self.bus.codec.msg_class(typename)
        self.bus._check_type(topic, typename)
        self.bus._check_graph_type(self.rclpy_node, topic, typename)
        sub = Ros2Subscription(self, topic, typename, qos, SampleQueue(qos, on_ready))
        self._keep(sub)
        return sub

    def create_service(self, name: str, srvtype: str, handler: ServiceHandler) -> Service:
        self._check_open()
        if name in self._native_services:
            # The hosted LifecycleNode answers these itself (with rclpy's own state machine and
            # parameters); a second server on the same name would split the callers.
            return NativeService(name, srvtype, handler)
        with self.bus._lock:
            if name in self.bus._services:
                raise TransportError(f"service {name} already has a server")
            self.bus._services.add(name)
        try:
            srv = Ros2Service(self, name, srvtype, handler)
        except Exception:
            with self.bus._lock:
                self.bus._services.discard(name)
            raise
        self._keep(srv)
        return srv

    def call_service(self, name: str, srvtype: str, request: bytes, timeout_s: float) -> bytes:
        self._check_open()
        try:
            return self._call_service(name, srvtype, request, timeout_s)
        except (TransportError, CodecError):
            raise
        except Exception as exc:  # rclpy's RCLError / InvalidHandle once the context shuts down
            if not self.bus.context.ok():
                raise TransportError(f"service {name}: the ROS 2 context is shut down") from exc
            raise

    def _call_service(self, name: str, srvtype: str, request: bytes, timeout_s: float) -> bytes:
        srv_cls = service_type(srvtype)
        deadline = time.monotonic() + timeout_s
        with self._lock:
            client = self._clients.get((name, srvtype))
            if client is None:
                client = self.rclpy_node.create_client(srv_cls, name, callback_group=self.group)
                self._clients[(name, srvtype)] = client
        if not client.service_is_ready() and not client.wait_for_service(timeout_sec=timeout_s):
            raise TransportError(f"service {name} is not available (no server within {timeout_s:g} s)")
        try:
            message = deserialize_message(request, srv_cls.Request)
        except Exception as exc:
            raise CodecError(f"{srvtype} request of {len(request)} bytes does not deserialize: {exc}") from exc
        future = client.call_async(message)
        done = threading.Event()
        future.add_done_callback(lambda _future: done.set())
        if not done.wait(max(0.0, deadline - time.monotonic())):
            client.remove_pending_request(future)
            future.cancel()
            raise TransportError(f"service {name} did not answer within {timeout_s:g} s")
        if future.exception() is not None:
            raise TransportError(f"service {name} failed: {future.exception()}")
        return bytes(serialize_message(future.result()))

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            entities = list(reversed(self._entities))
            clients = list(self._clients.values())
            self._clients.clear()
        for entity in entities:
            try:
                entity.close()
            except Exception:  # a context already shut down must not stop the rest of the teardown
                _log.debug("closing %s on %s failed", entity, self.fqn, exc_info=True)
            if isinstance(entity, Service):
                with self.bus._lock:
                    self.bus._services.discard(entity.name)
        for client in clients:
            try:
                self.rclpy_node.destroy_client(client)
            except Exception:
                _log.debug("destroying a client of %s failed", self.fqn, exc_info=True)
        self.bus._remove_node(self)


# ------------------------------------------------------------------------------------------ bus
class Ros2Bus(Bus):
    """The rclpy adapter.

    `config` keys (all optional):

    - context: an initialised rclpy Context to use (not shut down by close); default: a new one,
      initialised without arguments and without signal handlers, owned by the bus.
    - adopt: an rclpy Node (ros2_host's LifecycleNode) returned by create_node for its own name
      and namespace instead of a new node; its native lifecycle/parameter services and transition
      events are not duplicated.
    - domain_id: ROS domain of an owned context (default: ROS_DOMAIN_ID).
    - graph_poll_s: period of the graph poll behind watch_nodes (default 0.05).
    - executor_threads: threads of the MultiThreadedExecutor (default 4).
    """

    name = "ros2"
    honoured_qos = frozenset({"reliability", "history", "depth", "durability", "deadline", "lifespan"})
    capabilities = frozenset({Capability.MULTI_PROCESS})

    @classmethod
    def open(cls, config: Mapping[str, Any] | None = None, codec: MessageCodec | None = None) -> Ros2Bus:
        """An rclpy bus (CONFIG_KEYS: context, adopt, domain_id, graph_poll_s, executor_threads)."""
        return cls(config, codec)

    def __init__(self, config: Mapping[str, Any] | None = None, codec: MessageCodec | None = None) -> None:
        super().__init__(codec)
        cfg = dict(config or {})
        unknown = sorted(set(cfg) - set(CONFIG_KEYS))
        if unknown:
            raise TransportError(f"unknown ros2 bus setting(s) {unknown}; known: {list(CONFIG_KEYS)}")
        self._lock = threading.RLock()
        self.closed = False
        self._types: dict[str, str] = {}
        self._services: set[str] = set()
        self._nodes: list[Ros2Node] = []
        self._adopt: Any = cfg.get("adopt")
        self._adopted = False
        self._graph_poll_s = float(cfg.get("graph_poll_s", 0.05))
        self._owns_context = cfg.get("context") is None
        if self._owns_context:
            self.context = Context()
            rclpy.init(
                context=self.context,
                domain_id=cfg.get("domain_id"),
                # A library bus must leave the process's signal handling alone.
                signal_handler_options=SignalHandlerOptions.NO,
            )
        else:
            self.context = cfg["context"]
            if not self.context.ok():
                raise TransportError("the rclpy context given to the ros2 bus is not initialised (or shut down)")
        self._executor = MultiThreadedExecutor(num_threads=int(cfg.get("executor_threads", 4)), context=self.context)
        self._graph_node: Any = None
        self._watchers: list[Callable[[NodeEvent], None]] = []
        self._known: set[tuple[str, str]] = set()
        self._stop_graph = threading.Event()
        self._graph_thread: threading.Thread | None = None
        self._spin_thread = threading.Thread(target=self._spin, name="ros2-bus-executor", daemon=True)
        self._spin_thread.start()

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except Exception:  # ExternalShutdownException on Ctrl-C, or a context shut down under us
            _log.debug("ros2 bus executor stopped", exc_info=True)

    # -------------------------------------------------------------------- type bookkeeping
    def _check_type(self, topic: str, typename: str) -> None:
        with self._lock:
            known = self._types.setdefault(topic, typename)
        if known != typename:
            raise TransportError(f"topic {topic} carries {known}; cannot also use it for {typename}")

    def _check_graph_type(self, rclpy_node: Any, topic: str, typename: str) -> None:
        # DDS would silently never match endpoints of different types: say so at creation time.
        # Checked before creating our endpoint, which would otherwise list our type as well.
        resolved = rclpy_node.resolve_topic_name(topic)  # after --ros-args remapping
        for name, types in rclpy_node.get_topic_names_and_types():
            if name == resolved and types and typename not in types:
                raise TransportError(f"topic {resolved} carries {', '.join(types)} on the ROS graph, not {typename}")

    # -------------------------------------------------------------------- nodes
    def create_node(self, name: str, namespace: str = "/") -> Ros2Node:
        with self._lock:
            if self.closed:
                raise TransportError("bus is closed")
            name = names.validate_node_name(name)
            namespace = names.validate_namespace(namespace)
            adopt = self._adopt
            if (
                adopt is not None
                and not self._adopted
                and (adopt.get_name(), names.validate_namespace(adopt.get_namespace())) == (name, namespace)
            ):
                self._adopted = True
                rclpy_node, adopted = adopt, True
            else:
                # Global --ros-args (e.g. `-r __node:=x` from launch) would rename every node of a
                # shared context; they are meant for the hosted node only.
                rclpy_node = Node(
                    name, namespace=namespace, context=self.context, use_global_arguments=self._owns_context
                )
                adopted = False
            node = Ros2Node(self, name, namespace, rclpy_node, adopted)
            self._nodes.append(node)
        self._executor.add_node(rclpy_node)
        self._poll_graph()
        return node

    def _remove_node(self, node: Ros2Node) -> None:
        with self._lock:
            if node not in self._nodes:
                return
            self._nodes.remove(node)
            if node.adopted:
                self._adopted = False
        try:
            self._executor.remove_node(node.rclpy_node)
            if not node.adopted:
                node.rclpy_node.destroy_node()
        except Exception:
            _log.debug("removing node %s failed", node.fqn, exc_info=True)
        self._poll_graph()

    # -------------------------------------------------------------------- graph watch
    def _graph(self) -> Any:
        with self._lock:
            if self._graph_node is None:
                if self._adopt is not None:
                    self._graph_node = self._adopt
                else:
                    # Hidden (leading underscore): `ros2 node list` does not show it.
                    self._graph_node = Node(
                        f"_edge_llm_graph_{self.pid}_{id(self):x}",
                        context=self.context,
                        use_global_arguments=False,
                        start_parameter_services=False,
                        enable_rosout=False,
                    )
            return self._graph_node

    def _poll_graph(self) -> None:
        with self._lock:
            if not self._watchers or self.closed:
                return
            graph = self._graph()
        try:
            found = {
                (name, names.validate_namespace(ns or "/"))
                for name, ns in graph.get_node_names_and_namespaces()
                if not name.startswith("_")  # hidden nodes (ROS convention), ours included
            }
        except Exception:
            _log.debug("graph query failed", exc_info=True)
            return
        with self._lock:
            appeared = found - self._known
            vanished = self._known - found
            self._known = found
            watchers = list(self._watchers)
        events = [NodeEvent(n, ns, True) for n, ns in sorted(appeared)]
        events += [NodeEvent(n, ns, False) for n, ns in sorted(vanished)]
        for event in events:
            for watcher in watchers:
                watcher(event)

    def _graph_loop(self) -> None:
        while not self._stop_graph.wait(self._graph_poll_s):
            self._poll_graph()

    def watch_nodes(self, callback: Callable[[NodeEvent], None]) -> Callable[[], None]:
        with self._lock:
            if self.closed:
                raise TransportError("bus is closed")
            first = not self._watchers
            self._watchers.append(callback)
            current = sorted(self._known)
            if self._graph_thread is None:
                self._graph_thread = threading.Thread(target=self._graph_loop, name="ros2-bus-graph", daemon=True)
                self._graph_thread.start()
        if first:
            # Nobody polled while nobody watched: start from nothing so this first watcher hears
            # of every node, as later ones do from `current`.
            with self._lock:
                self._known = set()
            self._poll_graph()
        else:
            for name, ns in current:
                callback(NodeEvent(name, ns, True))

        def stop() -> None:
            with self._lock:
                if callback in self._watchers:
                    self._watchers.remove(callback)

        return stop

    # -------------------------------------------------------------------- teardown
    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            nodes = list(self._nodes)
        self._stop_graph.set()
        if self._graph_thread is not None:
            self._graph_thread.join(2.0)
        for node in nodes:
            node.close()
        with self._lock:
            self.closed = True
            self._watchers.clear()
            graph, self._graph_node = self._graph_node, None
        if graph is not None and graph is not self._adopt:
            try:
                graph.destroy_node()
            except Exception:
                _log.debug("destroying the graph node failed", exc_info=True)
        self._executor.shutdown(timeout_sec=2.0)
        self._spin_thread.join(2.0)
        if self._owns_context:
            self.context.try_shutdown()
