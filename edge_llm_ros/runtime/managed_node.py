"""Managed (lifecycle) node base class, independent of the middleware.

A subclass declares `PARAMETERS` and overrides `on_configure`/`on_activate`/... like an rclpy
LifecycleNode. The base class gives it:
- parameter resolution at configure (params file section + overrides, checked against the
  schema; a bad parameter fails configure with a message naming it);
- lifecycle publishers that only publish while active (others are dropped and counted);
- subscriptions that decode CDR and count malformed payloads instead of raising;
- entities created during configure are destroyed at cleanup;
- `<node>/change_state` and `<node>/get_state` services and `<node>/transition_event`, as
  lifecycle_msgs defines them, so a manager in another process drives it over any bus;
- opt-in `<node>/heartbeat` (runtime/heartbeat.py) when `heartbeat_period_s` > 0, published from
  its own thread so a lifecycle manager detects a dead, stopped or hung node in milliseconds;
- opt-in exclusive outputs (runtime/exclusive.py) when `exclusive_outputs` is set: redundant
  instances (warm standbys) never publish the same frame twice.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from edge_llm_ros.msgs.codec import CodecError
from edge_llm_ros.runtime.context import NodeContext, NodeOptions
from edge_llm_ros.runtime.exclusive import KeyExtractor, OutputFence
from edge_llm_ros.runtime.executor import TimerHandle
from edge_llm_ros.runtime.heartbeat import HEARTBEAT_QOS, HEARTBEAT_TOPIC, HEARTBEAT_TYPE, Heartbeat, NodeSnapshot
from edge_llm_ros.runtime.lifecycle import (
    CallbackReturn,
    LifecycleMachine,
    State,
    Transition,
    TransitionError,
)
from edge_llm_ros.runtime.params import ParameterError, ParameterSchema, ParameterSpec, params_for_node
from edge_llm_ros.runtime.reporting import BatchStats
from edge_llm_ros.transport import names
from edge_llm_ros.transport.bus import BusNode, MessageInfo, Publisher, Sample, Subscription
from edge_llm_ros.transport.qos import LATCHED, SERVICES_DEFAULT, QoSProfile

MessageCallback = Callable[[Any, MessageInfo], None]

BASE_PARAMETERS = ParameterSchema.of(
    ParameterSpec("use_sim_time", "bool", False, "Follow /clock (replays) instead of wall time"),
    ParameterSpec(
        "heartbeat_period_s", "float", 0.0, "Publish ~/heartbeat at this period (0 = off)", min=0.0, max=10.0
    ),
    ParameterSpec(
        "exclusive_outputs", "bool", False, "Never publish a frame another instance already published (standbys)"
    ),
)


class LifecyclePublisher:
    """Publishes only while its node is active, like rclpy's LifecyclePublisher."""

    def __init__(self, node: ManagedNode, publisher: Publisher, fence: OutputFence | None = None) -> None:
        self._node = node
        self.publisher = publisher
        self.topic = publisher.topic
        self.fence = fence

    def publish(self, msg: Any) -> bool:
        """Serialise and send; returns False (and counts it) when the node is not active."""
        if not self._node.is_active:
            self._node.counters["publish_while_inactive"] += 1
            return False
        if self.fence is not None and not self.fence.claim(self.fence.extractor.from_msg(msg)):
            self._node.counters["duplicate_suppressed"] += 1
            return False
        self.publisher.publish(msg)
        self._node.published_count += 1
        return True

    def publish_raw(self, data: bytes) -> bool:
        """Send pre-serialised CDR under the same activation rule."""
        if not self._node.is_active:
            self._node.counters["publish_while_inactive"] += 1
            return False
        if self.fence is not None and not self.fence.claim(self.fence.extractor.from_bytes(data)):
            self._node.counters["duplicate_suppressed"] += 1
            return False
        self.publisher.publish_raw(data)
        self._node.published_count += 1
        return True


class ManagedNode:
    """Base class of every worker node."""

    #: Parameters the node declares, in addition to BASE_PARAMETERS.
    PARAMETERS: ClassVar[ParameterSchema] = ParameterSchema()

    def __init__(self, context: NodeContext, options: NodeOptions) -> None:
        self.context = context
        self.options = options
        self.name = names.validate_node_name(options.name)
        self.namespace = names.validate_namespace(options.namespace)
        self.log = logging.getLogger(f"edge_llm_ros.{self.name}")
        self.codec = context.bus.codec
        self.counters: Counter[str] = Counter()
        #: Counters of the node's helpers (an input sync, ...) that stats() reports, by key prefix.
        self._counter_sources: dict[str, Mapping[str, int]] = {}
        self.params: dict[str, Any] = {}
        #: Messages sent by lifecycle publishers while active (heartbeats report it).
        self.published_count = 0
        self._bus_node = context.bus.create_node(self.name, self.namespace)
        self._configured_entities: list[Subscription | Publisher | TimerHandle] = []
        self._fences: list[OutputFence] = []
        self._collecting = False
        self.machine = LifecycleMachine(
            {
                State.CONFIGURING: self._configure,
                State.ACTIVATING: lambda _prev: self.on_activate(),
                State.DEACTIVATING: lambda _prev: self.on_deactivate(),
                State.CLEANINGUP: self._cleanup,
                State.SHUTTINGDOWN: self._shutdown,
                State.ERRORPROCESSING: self._error,
            },
            on_change=self._on_state_change,
            logger=self.log,
        )
        self._transition_pub = self._bus_node.create_publisher(
            self.resolve("~/transition_event"), "lifecycle_msgs/msg/TransitionEvent", LATCHED
        )
        self._services = [
            self._bus_node.create_service(
                self.resolve("~/change_state"), "lifecycle_msgs/srv/ChangeState", self._handle_change_state
            ),
            self._bus_node.create_service(
                self.resolve("~/get_state"), "lifecycle_msgs/srv/GetState", self._handle_get_state
            ),
        ]
        self.heartbeat: Heartbeat | None = None
        self._heartbeat_tick: TimerHandle | None = None
        self._start_heartbeat()

    # ----------------------------------------------------------------- identity and names
    @property
    def bus_node(self) -> BusNode:
        """The bus node this node's entities live on (shared by a process's telemetry under rclpy)."""
        return self._bus_node

    @property
    def fqn(self) -> str:
        """Fully-qualified node name."""
        return f"{self.namespace.rstrip('/')}/{self.name}"

    def resolve(self, topic: str) -> str:
        """Expand and remap a topic or service name for this node."""
        return names.resolve(topic, self.namespace, self.name, self.options.remaps)

    @classmethod
    def parameter_schema(cls) -> ParameterSchema:
        """All parameters the node accepts."""
        return BASE_PARAMETERS + cls.PARAMETERS

    # ----------------------------------------------------------------- lifecycle
    @property
    def state(self) -> State:
        """Current lifecycle state."""
        return self.machine.state

    @property
    def is_active(self) -> bool:
        """True in the ACTIVE primary state."""
        return self.machine.state is State.ACTIVE

    def trigger(self, transition: Transition | str) -> State:
        """Run a lifecycle transition and return the resulting state."""
        return self.machine.trigger(transition)

    def configure(self) -> State:
        """Shortcut for trigger('configure')."""
        return self.trigger("configure")

    def activate(self) -> State:
        """Shortcut for trigger('activate')."""
        return self.trigger("activate")

    def deactivate(self) -> State:
        """Shortcut for trigger('deactivate')."""
        return self.trigger("deactivate")

    def cleanup(self) -> State:
        """Shortcut for trigger('cleanup')."""
        return self.trigger("cleanup")

    def shutdown(self) -> State:
        """Shortcut for trigger('shutdown') from whichever primary state the node is in."""
        return self.trigger("shutdown")

    def bring_up(self) -> State:
        """Configure then activate; stops at the first transition that does not succeed."""
        if self.state is State.UNCONFIGURED and self.configure() is not State.INACTIVE:
            return self.state
        if self.state is State.INACTIVE:
            self.activate()
        return self.state

    @property
    def last_error(self) -> str | None:
        """Why the last transition failed, when it did."""
        return self.machine.last_error

    # Hooks for subclasses ------------------------------------------------
    def on_configure(self) -> CallbackReturn:
        """Load and validate resources (models, buffers); `self.params` is already resolved."""
        return CallbackReturn.SUCCESS

    def on_activate(self) -> CallbackReturn:
        """Start serving."""
        return CallbackReturn.SUCCESS

    def on_deactivate(self) -> CallbackReturn:
        """Stop serving; keep resources loaded."""
        return CallbackReturn.SUCCESS

    def on_cleanup(self) -> CallbackReturn:
        """Release what on_configure loaded."""
        return CallbackReturn.SUCCESS

    def on_shutdown(self) -> CallbackReturn:
        """Last chance to release resources."""
        return CallbackReturn.SUCCESS

    def on_error(self) -> CallbackReturn:
        """Recover after a callback raised; SUCCESS returns to unconfigured."""
        return CallbackReturn.SUCCESS

    # Internals of the transitions ------------------------------------------
    def _configure(self, _previous: State) -> CallbackReturn:
        overrides = params_for_node(self.context.params_document, self.name, self.namespace)
        overrides.update(self.options.parameter_overrides)
        try:
            self.params = self.parameter_schema().resolve(overrides, self.fqn)
        except ParameterError as exc:
            self.machine.last_error = str(exc)
            self.log.error("configure failed: %s", exc)
            return CallbackReturn.FAILURE
        self._collecting = True
        try:
            result = self.on_configure()
        finally:
            self._collecting = False
        if result is not CallbackReturn.SUCCESS:
            self._destroy_configured()
        return result

    def _cleanup(self, _previous: State) -> CallbackReturn:
        result = self.on_cleanup()
        if result is CallbackReturn.SUCCESS:
            self._destroy_configured()
        return result

    def _shutdown(self, previous: State) -> CallbackReturn:
        if previous is State.ACTIVE:
            self.on_deactivate()
        result = self.on_shutdown()
        self._destroy_configured()
        return result

    def _error(self, _previous: State) -> CallbackReturn:
        result = self.on_error()
        self._destroy_configured()
        return result

    def _destroy_configured(self) -> None:
        for entity in reversed(self._configured_entities):
            if isinstance(entity, Subscription):
                self.context.executor.remove_subscription(entity)
            entity.close() if not isinstance(entity, TimerHandle) else entity.cancel()
        self._configured_entities.clear()
        for fence in self._fences:
            fence.close()
        self._fences.clear()

    def _on_state_change(self, old: State, new: State, transition: Transition | None) -> None:
        self.log.debug("%s -> %s", old.label, new.label)
        if new in (State.ACTIVE, State.INACTIVE):
            self.context.executor.notify()
        event_cls = self.codec.msg_class("lifecycle_msgs/msg/TransitionEvent")
        state_cls = self.codec.msg_class("lifecycle_msgs/msg/State")
        transition_cls = self.codec.msg_class("lifecycle_msgs/msg/Transition")
        event = event_cls(
            timestamp=self.context.clock.now_ns(),
            transition=transition_cls(id=int(transition or 0), label=transition.label if transition else ""),
            start_state=state_cls(id=int(old), label=old.label),
            goal_state=state_cls(id=int(new), label=new.label),
        )
        try:
            self._transition_pub.publish(event)
        except Exception:  # a closed session at shutdown must not break the transition
            self.log.debug("transition event not published", exc_info=True)

    # ----------------------------------------------------------------- entities
    def _track(self, entity: Subscription | Publisher | TimerHandle) -> None:
        if self._collecting:
            self._configured_entities.append(entity)

    def qos(self, qos: str | QoSProfile | None, topic: str) -> QoSProfile:
        """A QoS profile by name, or the one config/qos.yaml assigns to `topic`."""
        if isinstance(qos, QoSProfile):
            return qos
        if qos is None:
            return self.context.qos.for_topic(topic)
        return self.context.qos.profile(qos)

    def create_publisher(self, topic: str, typename: str, qos: str | QoSProfile | None = None) -> LifecyclePublisher:
        """A lifecycle publisher on the resolved topic."""
        full = self.resolve(topic)
        profile = self.qos(qos, full)
        publisher = self._bus_node.create_publisher(full, typename, profile)
        self._track(publisher)
        fence = None
        if self.params.get("exclusive_outputs"):
            fence = OutputFence(self._bus_node, full, typename, publisher.gid, self.codec, profile)
            self._fences.append(fence)
        return LifecyclePublisher(self, publisher, fence)

    def create_subscription(
        self,
        topic: str,
        typename: str,
        callback: MessageCallback,
        qos: str | QoSProfile | None = None,
        *,
        raw: bool = False,
    ) -> Subscription:
        """Subscribe; the callback gets the decoded message (or bytes with raw=True) and its info."""
        full = self.resolve(topic)
        subscription = self._bus_node.create_subscription(
            full, typename, self.qos(qos, full), on_ready=self.context.executor.notify
        )

        keys = KeyExtractor(self.codec, typename) if self.params.get("exclusive_outputs") else None

        def handle(sample: Sample) -> None:
            if raw:
                callback(sample.data, sample.info)
                return
            try:
                msg = self.codec.deserialize(sample.data, typename)
            except CodecError as exc:
                self.counters[f"bad_input:{full}"] += 1
                count = self.counters[f"bad_input:{full}"]
                if count & (count - 1) == 0:  # 1st, 2nd, 4th, ...: a garbage flood must not flood the log
                    self.log.warning("dropped malformed %s on %s: %s (%d so far)", typename, full, exc, count)
                return
            # Skip a frame another instance already answered (a standby's backlog after a takeover).
            if (
                keys is not None
                and self._fences
                and (key := keys.from_msg(msg)) is not None
                and any(fence.served_frame(key[:2]) for fence in self._fences)
            ):
                self.counters["input_already_served"] += 1
                return
            callback(msg, sample.info)

        self.context.executor.add_subscription(subscription, handle, lambda: self.is_active)
        self._track(subscription)
        return subscription

    def create_timer(self, period_s: float, callback: Callable[[], None]) -> TimerHandle:
        """A timer on the node's executor (runs in every state; check `is_active` if it matters)."""
        handle = self.context.executor.create_timer(period_s, callback)
        self._track(handle)
        return handle

    def on_time_reset(self) -> None:
        """Sensor time went backwards (a drive replayed again under use_sim_time): start afresh.

        Runs on the node's executor thread. Forgets which frames were served (the same stamps
        come again); nodes that keep per-stream state (ordering, held frames, tracks) extend it.
        """
        for fence in self._fences:
            fence.forget()

    def now_ns(self) -> int:
        """The node's clock (ROS time: /clock under use_sim_time), for stamps, ages and waits."""
        return self.context.clock.now_ns()

    def span_ns(self) -> int:
        """Wall time, for measuring how long work takes (stage spans in decision records).

        Not the node's clock: under use_sim_time it only advances with /clock (40 Hz from
        `ros2 bag play --clock`), which would round every stage span to 0 or 25 ms.
        """
        return time.time_ns()

    # ----------------------------------------------------------------- lifecycle services
    def _handle_change_state(self, request: bytes) -> bytes:
        response_cls = self.codec.msg_class("lifecycle_msgs/srv/ChangeState_Response")
        try:
            req = self.codec.deserialize(request, "lifecycle_msgs/srv/ChangeState_Request")
            label = req.transition.label or Transition(req.transition.id).label
            before = self.state
            after = self.trigger(label)
            ok = (after is not before and after is not State.FINALIZED) or label == "shutdown"
            success = ok and self.machine.last_error is None
        except (CodecError, TransitionError, ValueError) as exc:
            self.log.warning("change_state refused: %s", exc)
            success = False
        return self.codec.serialize(response_cls(success=success), "lifecycle_msgs/srv/ChangeState_Response")

    def _handle_get_state(self, request: bytes) -> bytes:
        state_cls = self.codec.msg_class("lifecycle_msgs/msg/State")
        response_cls = self.codec.msg_class("lifecycle_msgs/srv/GetState_Response")
        msg = response_cls(current_state=state_cls(id=int(self.state), label=self.state.label))
        return self.codec.serialize(msg, "lifecycle_msgs/srv/GetState_Response")

    # ----------------------------------------------------------------- heartbeat
    def _start_heartbeat(self) -> None:
        # Read now, not at configure: an unconfigured node must be watched too. A bad value is
        # reported again, naming the parameter, when configure resolves all parameters.
        overrides = params_for_node(self.context.params_document, self.name, self.namespace)
        overrides.update(self.options.parameter_overrides)
        spec = BASE_PARAMETERS.specs["heartbeat_period_s"]
        try:
            period = float(spec.check(overrides.get(spec.name, spec.default)))
        except ParameterError as exc:
            self.log.error("heartbeat disabled: %s", exc)
            return
        if period <= 0:
            return
        publisher = self._bus_node.create_publisher(self.resolve(HEARTBEAT_TOPIC), HEARTBEAT_TYPE, HEARTBEAT_QOS)
        self.heartbeat = Heartbeat(self.fqn, publisher, self.codec, period, self._heartbeat_snapshot)
        # Untracked on purpose: the executor tick must survive cleanup, like the heartbeat itself.
        self._heartbeat_tick = self.context.executor.create_timer(period, self.heartbeat.tick)
        self.heartbeat.start()

    def _heartbeat_snapshot(self) -> NodeSnapshot:
        return NodeSnapshot(self.state, self.published_count, self.last_error or "", self.heartbeat_values())

    def heartbeat_values(self) -> dict[str, str]:
        """Extra key/values for the heartbeat (e.g. the loaded model); called from the beat thread."""
        return {}

    # ----------------------------------------------------------------- what a node reports
    # Pipelines, replays and the telemetry exporter ask every node these; nodes override them.
    def report_counters(self, prefix: str, counters: Mapping[str, int]) -> None:
        """Have stats() report a helper's counters as `<prefix><key>` (a later call replaces it)."""
        self._counter_sources[prefix] = counters

    def stats(self) -> dict[str, int]:
        """Counters of the node and of the helpers it reports (a node with engines merges theirs in)."""
        merged = dict(self.counters)
        for prefix, counters in self._counter_sources.items():
            merged.update({f"{prefix}{key}": int(value) for key, value in counters.items()})
        return merged

    def idle(self) -> bool:
        """No queued or running work (a closed-loop replay waits for it before the next frame)."""
        return True

    def batching(self) -> BatchStats | None:
        """The node's dynamic batcher, when it has one (queue depth and batch sizes for metrics)."""
        return None

    # ----------------------------------------------------------------- teardown
    def on_host_signal(self) -> None:
        """The hosting process got SIGINT/SIGTERM; destroy() follows. Runs in a signal handler: be quick."""

    def destroy(self) -> None:
        """Shut down if needed and leave the bus."""
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self._heartbeat_tick is not None:
            self._heartbeat_tick.cancel()
        if self.state in (State.UNCONFIGURED, State.INACTIVE, State.ACTIVE):
            with contextlib.suppress(TransitionError):
                self.shutdown()
        self._destroy_configured()
        for service in self._services:
            service.close()
        self._bus_node.close()


# Re-exported for node modules.
__all__ = [
    "BASE_PARAMETERS",
    "SERVICES_DEFAULT",
    "CallbackReturn",
    "LifecyclePublisher",
    "ManagedNode",
    "NodeContext",
    "NodeOptions",
    "ParameterSchema",
    "ParameterSpec",
    "State",
]
