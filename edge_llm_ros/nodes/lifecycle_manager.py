"""lifecycle_manager node: the manager logic (edge_llm_ros.manager) wired to the bus.

Services (under the node's name, default /lifecycle_manager):
  ~/start, ~/stop, ~/reset, ~/status   std_srvs/srv/Trigger; status's message is JSON
  ~/swap                               rcl_interfaces/srv/SetParameters: each parameter's name is a
                                       node kind, its string_value the model id (NAME[@VERSION]);
                                       each result's `reason` is the swap result as JSON
Publishes /diagnostics (diagnostic_msgs/DiagnosticArray): one status per managed instance.

The manager drives nodes through `BusNodePort` (lifecycle_msgs services, `~/heartbeat` topics,
bus node watch). With a `Spawner` (edge-llm-ros run sets `node.spawner` before configure) it
starts, kills and respawns instances itself; without one (ros2 launch) it manages the nodes it
finds under the expected names: `<kind>` for the first instance, `<kind>_standby_<n>`
for standbys (as launch/traffic.launch.py names them).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from edge_llm_ros.manager.config import ManagerConfig, ModelParams
from edge_llm_ros.manager.manager import LifecycleManager, ManagerError, Validator
from edge_llm_ros.manager.ports import HeartbeatCallback, LivelinessCallback, NodeUnreachableError
from edge_llm_ros.manager.roles import model_id_of
from edge_llm_ros.manager.spawner import InstanceSpec, Spawner
from edge_llm_ros.msgs.codec import CodecError, MessageCodec
from edge_llm_ros.nodes import topics
from edge_llm_ros.nodes.registry import NODE_CLASSES
from edge_llm_ros.runtime.context import NodeContext, NodeOptions
from edge_llm_ros.runtime.heartbeat import HEARTBEAT_QOS, HEARTBEAT_TYPE, HeartbeatDecodeError, HeartbeatInfo
from edge_llm_ros.runtime.lifecycle import CallbackReturn, State, Transition
from edge_llm_ros.runtime.managed_node import ManagedNode
from edge_llm_ros.runtime.params import ParameterSchema, ParameterSpec, params_for_node
from edge_llm_ros.transport.bus import Bus, BusNode, Service, Subscription, TransportError

CHANGE_STATE = "lifecycle_msgs/srv/ChangeState"
GET_STATE = "lifecycle_msgs/srv/GetState"
TRIGGER = "std_srvs/srv/Trigger"
SET_PARAMETERS = "rcl_interfaces/srv/SetParameters"
_PARAMETER_STRING = 4  # rcl_interfaces/ParameterType.PARAMETER_STRING

_TRANSITION_IDS = {"configure": 1, "cleanup": 2, "activate": 3, "deactivate": 4}

#: Kinds that can have standbys declared (every registered worker kind).
WORKER_KINDS = tuple(sorted(k for k in NODE_CLASSES if k != "lifecycle_manager"))


# ====================================================================== the port over the Bus
class BusNodeClient:
    """lifecycle_msgs services of one node, called over a BusNode."""

    def __init__(self, bus_node: BusNode, codec: MessageCodec, fqn: str) -> None:
        self._bus_node = bus_node
        self._codec = codec
        self.fqn = fqn

    def change_state(self, transition: str, timeout_s: float) -> bool:
        """Trigger `transition` ('configure', 'activate', ...); raises NodeUnreachableError."""
        transition_cls = self._codec.msg_class("lifecycle_msgs/msg/Transition")
        request = self._codec.msg_class("lifecycle_msgs/srv/ChangeState_Request")(
            transition=transition_cls(id=_TRANSITION_IDS.get(transition, 0), label=transition)
        )
        data = self._call("change_state", CHANGE_STATE, self._codec.serialize(request), timeout_s)
        try:
            return bool(self._codec.deserialize(data, "lifecycle_msgs/srv/ChangeState_Response").success)
        except CodecError as exc:
            raise NodeUnreachableError(f"{self.fqn}: malformed change_state response ({exc})") from exc

    def get_state(self, timeout_s: float) -> State:
        """The node's state; raises NodeUnreachableError."""
        request = self._codec.msg_class("lifecycle_msgs/srv/GetState_Request")(structure_needs_at_least_one_member=0)
        data = self._call("get_state", GET_STATE, self._codec.serialize(request), timeout_s)
        try:
            response = self._codec.deserialize(data, "lifecycle_msgs/srv/GetState_Response")
            return State(int(response.current_state.id))
        except (CodecError, ValueError) as exc:
            raise NodeUnreachableError(f"{self.fqn}: malformed get_state response ({exc})") from exc

    def _call(self, service: str, srvtype: str, request: bytes, timeout_s: float) -> bytes:
        try:
            return self._bus_node.call_service(f"{self.fqn}/{service}", srvtype, request, timeout_s)
        except TransportError as exc:
            raise NodeUnreachableError(str(exc)) from exc


class BusNodePort:
    """`NodePort` over the Bus port: lifecycle services, heartbeat topics, node watch."""

    def __init__(self, bus: Bus, bus_node: BusNode) -> None:
        self._bus = bus
        self._bus_node = bus_node
        self._codec = bus.codec
        self._heartbeats: dict[str, Subscription] = {}
        self._lock = threading.Lock()
        self.bad_heartbeats = 0

    def client(self, fqn: str) -> BusNodeClient:
        """A lifecycle client for `fqn`."""
        return BusNodeClient(self._bus_node, self._codec, fqn)

    def watch_heartbeats(self, fqn: str, callback: HeartbeatCallback) -> None:
        """Decode `fqn`'s heartbeats on the transport's thread and hand them to `callback`."""
        with self._lock:
            if fqn in self._heartbeats:
                return
        holder: list[Subscription] = []

        def ready() -> None:
            # Runs on the transport thread right after the sample is queued: decoding here keeps
            # detection latency at transport latency, without waiting for any executor.
            if not holder:
                return
            while (sample := holder[0].take(0.0)) is not None:
                try:
                    info = HeartbeatInfo.from_msg(self._codec.deserialize(sample.data, HEARTBEAT_TYPE))
                except (CodecError, HeartbeatDecodeError):
                    self.bad_heartbeats += 1
                    continue
                callback(info)

        sub = self._bus_node.create_subscription(f"{fqn}/heartbeat", HEARTBEAT_TYPE, HEARTBEAT_QOS, on_ready=ready)
        holder.append(sub)
        with self._lock:
            self._heartbeats[fqn] = sub
        ready()  # anything that arrived before `holder` was filled

    def unwatch_heartbeats(self, fqn: str) -> None:
        """Stop following `fqn`'s heartbeats."""
        with self._lock:
            sub = self._heartbeats.pop(fqn, None)
        if sub is not None:
            sub.close()

    def watch_liveliness(self, callback: LivelinessCallback) -> Callable[[], None] | None:
        """Node appear/vanish events from the bus (zenoh liveliness tokens; inproc node closes)."""
        return self._bus.watch_nodes(lambda event: callback(f"{event.namespace.rstrip('/')}/{event.name}", event.alive))

    def close(self) -> None:
        """Close every heartbeat subscription."""
        with self._lock:
            subs = list(self._heartbeats.values())
            self._heartbeats.clear()
        for sub in subs:
            sub.close()


# ====================================================================== in-process spawner
class InprocSpawner:
    """`Spawner` that creates node objects on a shared context (the embedded, one-process mode).

    Each instance gets its kind's section of the params document plus the spec's overrides, so a
    standby named e.g. `vision_inference_standby_1` runs with the `vision_inference` parameters.
    """

    def __init__(self, context: NodeContext) -> None:
        self.context = context
        self.nodes: dict[str, ManagedNode] = {}
        self._lock = threading.Lock()

    def spawn(self, spec: InstanceSpec) -> None:
        """Construct the node (unconfigured); its heartbeat starts at once."""
        from edge_llm_ros.nodes.registry import node_class

        self.kill(spec.name)
        overrides = params_for_node(self.context.params_document, spec.kind, spec.namespace)
        overrides.update(spec.overrides)
        node = node_class(spec.kind)(self.context, NodeOptions(spec.name, spec.namespace, overrides))
        with self._lock:
            self.nodes[spec.name] = node

    def kill(self, name: str) -> None:
        """Destroy the node: it stops publishing and leaves the bus at once."""
        with self._lock:
            node = self.nodes.pop(name, None)
        if node is not None:
            node.destroy()

    def stop(self, name: str, timeout_s: float) -> None:
        """Same as kill in one process (destroy runs the shutdown transition)."""
        self.kill(name)

    def exited(self) -> list[str]:
        """Nothing exits on its own in one process."""
        return []

    def stop_all(self) -> None:
        """Destroy every node."""
        for name in list(self.nodes):
            self.kill(name)


# ====================================================================== the node
def _manager_parameters() -> ParameterSchema:
    specs = [
        ParameterSpec("scene", "str", "traffic", "Scene name (informational)"),
        ParameterSpec("node_names", "list[str]", None, "Node kinds in bring-up order", required=True),
        ParameterSpec("autostart", "bool", True, "Bring everything up when the manager activates"),
        ParameterSpec(
            "node_heartbeat_period_s", "float", 0.01, "Heartbeat period given to managed nodes", min=0.001, max=5.0
        ),
        ParameterSpec(
            "heartbeat_timeout_s", "float", 0.05, "Silence that fails over an active node", min=0.003, max=60.0
        ),
        ParameterSpec(
            "restart_timeout_s", "float", 0.5, "Silence that restarts a node without standby", min=0.003, max=600.0
        ),
        ParameterSpec("check_period_s", "float", 0.005, "Health check period", min=0.001, max=5.0),
        ParameterSpec(
            "executor_stall_timeout_s", "float", 2.0, "Executor lag that means hung (0 = off)", min=0.0, max=600.0
        ),
        ParameterSpec("get_state_period_s", "float", 0.25, "Poll active nodes' get_state (0 = off)", min=0.0, max=60.0),
        ParameterSpec("get_state_timeout_s", "float", 0.2, min=0.001, max=60.0),
        ParameterSpec("spawn_timeout_s", "float", 60.0, "First heartbeat of a started process", min=0.1, max=3600.0),
        ParameterSpec("configure_timeout_s", "float", 60.0, "Configure (model load)", min=0.01, max=3600.0),
        ParameterSpec("activate_timeout_s", "float", 2.0, min=0.001, max=600.0),
        ParameterSpec("deactivate_timeout_s", "float", 2.0, min=0.001, max=600.0),
        ParameterSpec("cleanup_timeout_s", "float", 10.0, min=0.001, max=600.0),
        ParameterSpec("shutdown_timeout_s", "float", 5.0, min=0.001, max=600.0),
        ParameterSpec("respawn", "bool", True, "Respawn failed instances"),
        ParameterSpec("respawn_backoff_s", "float", 0.5, min=0.0, max=600.0),
        ParameterSpec("max_respawn_attempts", "int", 5, min=0, max=1000),
        ParameterSpec("swap_serve_messages", "int", 1, "Outputs the new model must publish", min=1, max=100000),
        ParameterSpec("swap_serve_timeout_s", "float", 10.0, min=0.01, max=3600.0),
        ParameterSpec("swap_validate", "bool", True, "Validate swap targets (sha256, io spec, golden)"),
        ParameterSpec("model_store", "str", "", "Model store for swap validation ('' = default)"),
        ParameterSpec(
            "model_parameters",
            "list[str]",
            ["roi_preprocess=person_detector.model,person_detector.version"],
            "KIND=NAME_PARAM,VERSION_PARAM for kinds not using model/model_version",
        ),
        ParameterSpec("diagnostics_period_s", "float", 1.0, "/diagnostics period (0 = off)", min=0.0, max=60.0),
    ]
    specs += [
        ParameterSpec(f"standbys.{kind}", "int", 0, f"Warm standbys of {kind}", min=0, max=8) for kind in WORKER_KINDS
    ]
    return ParameterSchema.of(*specs)


def _model_parameters(entries: list[str]) -> dict[str, ModelParams]:
    out = {}
    for entry in entries:
        kind, sep, rest = entry.partition("=")
        name_param, comma, version_param = rest.partition(",")
        if not sep or not comma or not kind or not name_param or not version_param:
            raise ValueError(f"model_parameters entry {entry!r} must look like KIND=NAME_PARAM,VERSION_PARAM")
        out[kind.strip()] = ModelParams(name_param.strip(), version_param.strip())
    return out


class LifecycleManagerNode(ManagedNode):
    """Thin glue: parameters -> ManagerConfig, services -> LifecycleManager calls."""

    PARAMETERS = _manager_parameters()

    #: Set before configure to let the manager start/kill processes (edge-llm-ros run).
    spawner: Spawner | None = None
    #: Set before configure to replace the default store validator (None: built from parameters).
    validator: Validator | None = None

    def manager_config(self) -> ManagerConfig:
        """The manager's configuration from the resolved parameters."""
        p = self.params
        names = tuple(p["node_names"])
        standbys = {kind: p[f"standbys.{kind}"] for kind in WORKER_KINDS if p[f"standbys.{kind}"] and kind in names}
        model_params = _model_parameters(p["model_parameters"])
        initial_models = {}
        for kind in names:
            # What the scene's params file makes each kind load (name@version, or name = newest).
            section = params_for_node(self.context.params_document, kind, self.namespace)
            params = model_params.get(kind, ModelParams())
            if model := model_id_of(section, params.name_param, params.version_param):
                initial_models[kind] = model
        return ManagerConfig(
            node_names=names,
            standbys=standbys,
            autostart=p["autostart"],
            heartbeat_period_s=p["node_heartbeat_period_s"],
            heartbeat_timeout_s=p["heartbeat_timeout_s"],
            restart_timeout_s=p["restart_timeout_s"],
            check_period_s=p["check_period_s"],
            executor_stall_timeout_s=p["executor_stall_timeout_s"],
            get_state_period_s=p["get_state_period_s"],
            get_state_timeout_s=p["get_state_timeout_s"],
            spawn_timeout_s=p["spawn_timeout_s"],
            configure_timeout_s=p["configure_timeout_s"],
            activate_timeout_s=p["activate_timeout_s"],
            deactivate_timeout_s=p["deactivate_timeout_s"],
            cleanup_timeout_s=p["cleanup_timeout_s"],
            shutdown_timeout_s=p["shutdown_timeout_s"],
            respawn=p["respawn"],
            respawn_backoff_s=p["respawn_backoff_s"],
            max_respawn_attempts=p["max_respawn_attempts"],
            swap_serve_messages=p["swap_serve_messages"],
            swap_serve_timeout_s=p["swap_serve_timeout_s"],
            model_params=model_params,
            initial_models=initial_models,
        )

    def on_configure(self) -> CallbackReturn:
        try:
            config = self.manager_config()
        except ValueError as exc:
            self.machine.last_error = f"{self.fqn}: {exc}"
            self.log.error("configure failed: %s", exc)
            return CallbackReturn.FAILURE
        unknown = [k for k in config.node_names if k not in NODE_CLASSES]
        if unknown:
            self.machine.last_error = f"node_names has unknown kinds {unknown}; known: {sorted(NODE_CLASSES)}"
            return CallbackReturn.FAILURE
        self._port_node = self.context.bus.create_node(f"{self.name}_client", self.namespace)
        self.port = BusNodePort(self.context.bus, self._port_node)
        validator = self.validator
        if validator is None and self.params["swap_validate"]:
            from edge_llm_ros.manager.validation import StoreValidator

            validator = StoreValidator(
                self.params["model_store"] or None,
                serving_model=lambda kind: self.manager.group(kind).model,
                kinds={"vision_inference": "classifier", "roi_preprocess": "detector"},
            )
        self.manager = LifecycleManager(config, self.port, self.spawner, validator=validator)
        self._manager_services: list[Service] = [
            self._bus_node.create_service(self.resolve(f"~/{name}"), TRIGGER, self._trigger(handler))
            for name, handler in (
                ("start", self._start),
                ("stop", self._stop),
                ("reset", self._reset),
                ("status", self._status),
            )
        ]
        self._manager_services.append(
            self._bus_node.create_service(self.resolve("~/swap"), SET_PARAMETERS, self._handle_swap)
        )
        self.diagnostics_pub = self.create_publisher(topics.DIAGNOSTICS_TOPIC, topics.DIAGNOSTICS, "default")
        if self.params["diagnostics_period_s"] > 0:
            self.create_timer(self.params["diagnostics_period_s"], self._publish_diagnostics)
        return CallbackReturn.SUCCESS

    def on_activate(self) -> CallbackReturn:
        if not self.params["autostart"]:
            self.manager.start_monitor()
            return CallbackReturn.SUCCESS
        try:
            self.manager.bring_up()
        except ManagerError as exc:
            self.machine.last_error = str(exc)
            self.log.error("bring-up failed: %s", exc)
            return CallbackReturn.FAILURE
        return CallbackReturn.SUCCESS

    def on_deactivate(self) -> CallbackReturn:
        self.manager.stop()
        return CallbackReturn.SUCCESS

    def on_cleanup(self) -> CallbackReturn:
        self._teardown()
        return CallbackReturn.SUCCESS

    def on_shutdown(self) -> CallbackReturn:
        if hasattr(self, "manager"):
            self._teardown()
        return CallbackReturn.SUCCESS

    def _teardown(self) -> None:
        self.manager.shutdown()
        for service in self._manager_services:
            service.close()
        self.port.close()
        self._port_node.close()

    # ------------------------------------------------------------------ services
    def _trigger(self, handler: Callable[[], str]) -> Callable[[bytes], bytes]:
        response_cls = self.codec.msg_class("std_srvs/srv/Trigger_Response")

        def serve(_request: bytes) -> bytes:
            try:
                message, success = handler(), True
            except (ManagerError, NodeUnreachableError) as exc:
                message, success = str(exc), False
            return self.codec.serialize(response_cls(success=success, message=message), "std_srvs/srv/Trigger_Response")

        return serve

    def _start(self) -> str:
        self.manager.start()
        return "started"

    def _stop(self) -> str:
        self.manager.stop()
        return "stopped"

    def _reset(self) -> str:
        self.manager.reset()
        return "reset: every instance cleaned up"

    def _status(self) -> str:
        return json.dumps(self.manager.status(), separators=(",", ":"))

    def _handle_swap(self, request: bytes) -> bytes:
        result_cls = self.codec.msg_class("rcl_interfaces/msg/SetParametersResult")
        response_cls = self.codec.msg_class("rcl_interfaces/srv/SetParameters_Response")
        results = []
        try:
            req = self.codec.deserialize(request, "rcl_interfaces/srv/SetParameters_Request")
            parameters = list(req.parameters)
        except CodecError as exc:
            parameters = []
            results.append(result_cls(successful=False, reason=f"malformed request: {exc}"))
        for parameter in parameters:
            if int(parameter.value.type) != _PARAMETER_STRING:
                results.append(result_cls(successful=False, reason="the value must be a string model id"))
                continue
            outcome = self.manager.swap(str(parameter.name), str(parameter.value.string_value))
            results.append(result_cls(successful=outcome.ok, reason=json.dumps(outcome.to_dict())))
        return self.codec.serialize(response_cls(results=results), "rcl_interfaces/srv/SetParameters_Response")

    def _publish_diagnostics(self) -> None:
        if not self.is_active:
            return
        status_cls = self.codec.msg_class("diagnostic_msgs/msg/DiagnosticStatus")
        kv_cls = self.codec.msg_class("diagnostic_msgs/msg/KeyValue")
        statuses = []
        for group in self.manager.status()["nodes"]:
            for inst in group["instances"]:
                level = 0 if inst["role"] in ("active", "standby") else (2 if inst["role"] == "failed" else 1)
                statuses.append(
                    status_cls(
                        level=level,
                        name=f"{self.name}: {inst['name']}",
                        message=f"{inst['role']} ({inst['state']})",
                        hardware_id=str(inst["pid"] or ""),
                        values=[kv_cls(key=str(k), value=str(v)) for k, v in inst.items()],
                    )
                )
        from edge_llm_ros.nodes.convert import header

        array_cls = self.codec.msg_class(topics.DIAGNOSTICS)
        self.diagnostics_pub.publish(array_cls(header=header(self.codec, self.now_ns(), ""), status=statuses))


# ====================================================================== client helpers (CLI)
def call_trigger(bus_node: BusNode, manager: str, name: str, timeout_s: float) -> tuple[bool, str]:
    """Call one of the manager's Trigger services; returns (success, message)."""
    codec = bus_node.bus.codec
    request = codec.serialize(
        codec.msg_class("std_srvs/srv/Trigger_Request")(structure_needs_at_least_one_member=0),
        "std_srvs/srv/Trigger_Request",
    )
    data = bus_node.call_service(f"{manager}/{name}", TRIGGER, request, timeout_s)
    response = codec.deserialize(data, "std_srvs/srv/Trigger_Response")
    return bool(response.success), str(response.message)


def call_swap(bus_node: BusNode, manager: str, kind: str, model_id: str, timeout_s: float) -> dict[str, Any]:
    """Ask the manager to hot-swap `kind` to `model_id`; returns the SwapResult as a dict."""
    codec = bus_node.bus.codec
    value = codec.msg_class("rcl_interfaces/msg/ParameterValue")(
        type=_PARAMETER_STRING,
        bool_value=False,
        integer_value=0,
        double_value=0.0,
        string_value=model_id,
        byte_array_value=np.zeros(0, np.uint8),
        bool_array_value=np.zeros(0, np.bool_),
        integer_array_value=np.zeros(0, np.int64),
        double_array_value=np.zeros(0, np.float64),
        string_array_value=[],
    )
    parameter = codec.msg_class("rcl_interfaces/msg/Parameter")(name=kind, value=value)
    request = codec.msg_class("rcl_interfaces/srv/SetParameters_Request")(parameters=[parameter])
    data = bus_node.call_service(f"{manager}/swap", SET_PARAMETERS, codec.serialize(request), timeout_s)
    response = codec.deserialize(data, "rcl_interfaces/srv/SetParameters_Response")
    if not response.results:
        raise TransportError("the manager answered the swap with no result")
    result = response.results[0]
    try:
        parsed: dict[str, Any] = json.loads(result.reason)
    except ValueError:
        parsed = {"ok": bool(result.successful), "outcome": "rejected", "reason": str(result.reason)}
    return parsed



# Keep Transition importable from here for callers that build requests by id.
__all__ = [
    "BusNodeClient",
    "BusNodePort",
    "InprocSpawner",
    "LifecycleManagerNode",
    "Transition",
    "call_swap",
    "call_trigger",
]
