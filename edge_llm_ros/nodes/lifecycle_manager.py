"""lifecycle_manager node: the manager logic (edge_llm_ros.manager) wired to the bus.

Services (under the node's name, default /lifecycle_manager):
  ~/start, ~/stop, ~/reset, ~/status   std_srvs/srv/Trigger; status's message is JSON
  ~/swap                               rcl_interfaces/srv/SetParameters: each parameter's name is a
                                       node kind, its string_value the model id (NAME[@VERSION]);
                                       each result's `reason` is the swap result as JSON
Publishes /diagnostics (diagnostic_msgs/DiagnosticArray): one status per managed instance.

The manager drives nodes through `BusNodePort` (nodes/manager_port.py: lifecycle_msgs services,
`~/heartbeat` topics, bus node watch); nodes/manager_client.py calls this node's services. With
a `Spawner` (edge-llm-ros run sets `node.spawner` before configure) it starts, kills and respawns
instances itself; without one (ros2 launch) it manages the nodes it finds under the expected
names: `<kind>` for the first instance, `<kind>_standby_<n>` for standbys (as
launch/pipeline.launch.py names them).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from edge_llm_ros.manager.config import ManagerConfig, ModelParams
from edge_llm_ros.manager.manager import LifecycleManager, ManagerError, Validator
from edge_llm_ros.manager.ports import NodeUnreachableError
from edge_llm_ros.manager.roles import model_id_of
from edge_llm_ros.manager.spawner import Spawner
from edge_llm_ros.msgs.codec import CodecError
from edge_llm_ros.nodes import topics
from edge_llm_ros.nodes.manager_port import PARAMETER_STRING, SET_PARAMETERS, TRIGGER, BusNodePort
from edge_llm_ros.nodes.registry import NODE_CLASSES
from edge_llm_ros.runtime.lifecycle import CallbackReturn
from edge_llm_ros.runtime.managed_node import ManagedNode
from edge_llm_ros.runtime.params import ParameterSchema, ParameterSpec, params_for_node
from edge_llm_ros.transport.bus import Service

#: Kinds that can have standbys declared (every registered worker kind).
WORKER_KINDS = tuple(sorted(k for k in NODE_CLASSES if k != "lifecycle_manager"))


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
            if int(parameter.value.type) != PARAMETER_STRING:
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


