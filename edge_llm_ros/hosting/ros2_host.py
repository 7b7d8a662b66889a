"""Host one ManagedNode class as a real rclpy lifecycle node (what `ros2 launch`/`ros2 run` start).

`run_ros2_node` is reached from hosting/process.py when a console script sees `--ros-args`.

Design: two objects, one node.
- `HostLifecycleNode` (an rclpy LifecycleNode) is the node ROS 2 sees. rclpy gives it everything
  a ROS user expects: name, namespace and remaps from the command line (`__node:=`, `__ns:=`,
  `-r from:=to`, applied by rcl to every name it creates), parameter overrides from
  `--params-file` / launch, `ros2 param get/set/dump/describe`, `ros2 lifecycle get/set/list`,
  `ros2 node info`, /rosout, and use_sim_time (rclpy's TimeSource follows /clock).
- Our `ManagedNode` subclass runs on a Ros2Bus that *adopts* that rclpy node: its publishers,
  subscriptions and services are created on the same rclpy node (so `ros2 node info` lists
  them), except the lifecycle and parameter services and transition events, which rclpy already
  provides (ros2_mapping.NATIVE_SERVICES / NATIVE_TOPICS).
- Lifecycle: rclpy's state machine is the one ROS tools talk to; each rclpy transition callback
  runs the same transition on our machine and answers SUCCESS/FAILURE/ERROR so that both
  machines end in the same state (ros2_params.transition_outcome).
- Parameters: every ParameterSpec of the node class is declared on the rclpy node, statically
  typed, with a ParameterDescriptor (description, read_only, integer/floating-point range,
  choices and "read at configure" in additional_constraints). The ManagedNode reads its
  overrides from those live rclpy values at each configure, so a `ros2 param set` applies at the
  next configure, as on every other adapter. Values rclpy rejects when loading the params file
  (wrong type, out of range, not one of the choices) do not kill the process: the parameter
  keeps its default, and configure fails with a message naming it until it is set right.
- Threads: the bus's MultiThreadedExecutor serves rclpy (lifecycle and parameter services,
  samples into keep-last queues); our own Executor runs the node's callbacks on its thread, as
  under zenoh; the main thread waits for shutdown (Ctrl-C/SIGTERM via rclpy, or finalized).

Non-ROS arguments (before `--ros-args`): `--autostart` configures and activates the node at
once (the lifecycle manager under launch; a single node without a manager).
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.clock import JumpThreshold
from rclpy.duration import Duration
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.utilities import get_default_context, remove_ros_args

from edge_llm_ros.config_files import ConfigNotFoundError, find_config
from edge_llm_ros.hosting.ros2_params import (
    TRANSITION_GOALS,
    ParameterDeclaration,
    declared_values,
    error_outcome,
    from_ros_value,
    parameter_declaration,
    transition_outcome,
)
from edge_llm_ros.nodes.telemetry_exporter import TelemetryExporter
from edge_llm_ros.runtime.context import NodeContext, NodeOptions
from edge_llm_ros.runtime.executor import Executor, ExecutorThread, TimerHandle
from edge_llm_ros.runtime.lifecycle import State, TransitionError
from edge_llm_ros.runtime.managed_node import ManagedNode
from edge_llm_ros.runtime.params import ParameterError, ParameterSchema, ParameterSpec
from edge_llm_ros.transport.qos import QoSCatalog
from edge_llm_ros.transport.ros2_bus import Ros2Bus

_log = logging.getLogger(__name__)

#: Host-level parameters (not part of any node's schema): the QoS profiles file, and the port of
#: the process's Prometheus endpoint.
QOS_FILE_PARAMETER = "qos_file"
METRICS_PORT_PARAMETER = "metrics_port"
#: A backwards jump of ROS time larger than this (0.5 s) is a restarted replay, not jitter.
TIME_RESET_MIN_JUMP_NS = 500_000_000


class RosClock:
    """The rclpy node's clock as our Clock: ROS time, i.e. /clock when use_sim_time is true."""

    def __init__(self, node: Any) -> None:
        self._clock = node.get_clock()

    def now_ns(self) -> int:
        """Current ROS time in ns."""
        return int(self._clock.now().nanoseconds)


class ParameterView(Mapping[str, Any]):
    """The node's declared rclpy parameters as ManagedNode overrides, read live at each access."""

    def __init__(self, node: Any, schema: ParameterSchema) -> None:
        self._node = node
        self._specs = list(schema.describe())

    def _snapshot(self) -> dict[str, Any]:
        values = {}
        for spec in self._specs:
            if self._node.has_parameter(spec.name):
                # get_parameter_or: an unset (statically typed, no value) parameter reads as None.
                values[spec.name] = self._node.get_parameter_or(spec.name, None).value
        return declared_values(self._specs, values)

    def __getitem__(self, key: str) -> Any:
        return self._snapshot()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._snapshot())

    def __len__(self) -> int:
        return len(self._snapshot())


class RosoutHandler(logging.Handler):
    """Python logging of our modules into the node's rclpy logger (console and /rosout)."""

    def __init__(self, node: Any) -> None:
        super().__init__()
        self._logger = node.get_logger()

    def emit(self, record: logging.LogRecord) -> None:
        """Forward one record at its severity."""
        try:
            text = self.format(record)
            if record.levelno >= logging.CRITICAL:
                self._logger.fatal(text)
            elif record.levelno >= logging.ERROR:
                self._logger.error(text)
            elif record.levelno >= logging.WARNING:
                self._logger.warning(text)
            elif record.levelno >= logging.INFO:
                self._logger.info(text)
            else:
                self._logger.debug(text)
        except Exception:  # logging must never raise into the caller
            self.handleError(record)


def _descriptor(decl: ParameterDeclaration) -> Any:
    """A fresh ParameterDescriptor (rclpy writes name and type into the one it is given)."""
    descriptor = ParameterDescriptor(
        name=decl.name,
        type=Parameter.Type[decl.ros_type].value,
        description=decl.description,
        additional_constraints=decl.additional_constraints,
        read_only=decl.read_only,
    )
    if decl.integer_range is not None:
        low, high = decl.integer_range
        descriptor.integer_range = [IntegerRange(from_value=low, to_value=high, step=0)]
    if decl.float_range is not None:
        low_f, high_f = decl.float_range
        descriptor.floating_point_range = [FloatingPointRange(from_value=low_f, to_value=high_f, step=0.0)]
    return descriptor


class HostLifecycleNode(LifecycleNode):
    """The rclpy LifecycleNode that fronts one ManagedNode (see the module docstring)."""

    def __init__(self, node_cls: type[ManagedNode], default_name: str) -> None:
        # rcl applies `__node:=` / `__ns:=` from the command line to this name and namespace.
        super().__init__(default_name)
        self.schema = node_cls.parameter_schema()
        self.declarations = {spec.name: parameter_declaration(spec) for spec in self.schema.describe()}
        #: Parameters whose params-file value rclpy refused: name -> why. Configure fails on them.
        self.startup_errors: dict[str, str] = {}
        self.managed: ManagedNode | None = None
        self.add_on_set_parameters_callback(self._validate)
        for decl in self.declarations.values():
            self._declare(decl)
        self.declare_parameter(
            QOS_FILE_PARAMETER,
            "",
            ParameterDescriptor(
                description="QoS profiles YAML ('' = the package's config/qos.yaml)",
                read_only=True,
            ),
        )
        self.declare_parameter(
            METRICS_PORT_PARAMETER,
            -1,
            ParameterDescriptor(
                description="Serve Prometheus /metrics on 127.0.0.1:PORT (0 = any free port, -1 = off)",
                read_only=True,
                integer_range=[IntegerRange(from_value=-1, to_value=65535, step=0)],
            ),
        )
        self._check_overrides()

    # ------------------------------------------------------------------ parameters
    def _check_overrides(self) -> None:
        # A name in the params file that the node does not declare is a typo or a parameter of
        # another node: rclpy would ignore it silently; configure fails naming it, as it does
        # with the embedded runner's params files. rclpy keeps the overrides it was given (from
        # --params-file, -p and launch) in _parameter_overrides on Humble and Jazzy alike.
        overrides = getattr(self, "_parameter_overrides", None) or {}
        unknown = sorted(
            name for name in overrides if not self.has_parameter(name) and not name.startswith("qos_overrides.")
        )
        if unknown:
            self.startup_errors["(unknown)"] = (
                f"node {self.get_fully_qualified_name()!r}: unknown parameter(s) {unknown}; "
                f"declared: {sorted(self.declarations)}"
            )
            self.get_logger().error(self.startup_errors["(unknown)"])

    def _declare(self, decl: ParameterDeclaration) -> None:
        if self.has_parameter(decl.name):  # use_sim_time: rclpy declares it itself
            return
        try:
            self._declare_one(decl, ignore_override=False)
        except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
            self._declare_one(decl, ignore_override=True)
            # Recorded after the default went in: its successful set clears earlier errors.
            self.startup_errors[decl.name] = f"parameter {decl.name!r}: {exc}"
            self.get_logger().error(f"{self.startup_errors[decl.name]}; configure will fail until it is set")

    def _declare_one(self, decl: ParameterDeclaration, *, ignore_override: bool) -> None:
        ros_type = Parameter.Type[decl.ros_type]
        if not decl.needs_typed_declaration:
            self.declare_parameter(decl.name, decl.default, _descriptor(decl), ignore_override)
            return
        declared = self.declare_parameter(decl.name, ros_type, _descriptor(decl), ignore_override)
        if declared.value is None and decl.default is not None:
            # An empty-list default: set it so `ros2 param get` shows [] rather than "not set".
            # (A read-only one stays unset; the schema applies the same default at configure.)
            self.set_parameters([Parameter(decl.name, ros_type, decl.default)])

    def _validate(self, parameters: list[Any]) -> Any:
        """on-set callback: the spec's own checks (choices, list element bounds) on every set."""
        for parameter in parameters:
            spec: ParameterSpec | None = self.schema.specs.get(parameter.name)
            if spec is None or parameter.value is None:
                continue
            try:
                spec.check(from_ros_value(spec, parameter.value))
            except ParameterError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        for parameter in parameters:
            self.startup_errors.pop(parameter.name, None)
        if self.managed is not None and self.managed.state in (State.INACTIVE, State.ACTIVE):
            names = ", ".join(p.name for p in parameters)
            self.get_logger().info(f"{names} set; takes effect at the next configure")
        return SetParametersResult(successful=True)

    def qos_catalog(self) -> QoSCatalog:
        """The QoS profiles: the qos_file parameter, else the package's config/qos.yaml."""
        path = str(self.get_parameter(QOS_FILE_PARAMETER).value or "")
        try:
            return QoSCatalog.from_yaml(find_config(path or "qos.yaml"))
        except ConfigNotFoundError:
            if path:
                raise
            self.get_logger().warning("config/qos.yaml not found; using the built-in QoS profiles")
            return QoSCatalog({})

    # ------------------------------------------------------------------ lifecycle
    def bind(self, managed: ManagedNode) -> None:
        """Attach the ManagedNode whose machine the rclpy transitions drive."""
        self.managed = managed

    def _run(self, label: str, previous: Any) -> Any:
        managed = self.managed
        if managed is None:
            return TransitionCallbackReturn.FAILURE
        if label == "configure" and self.startup_errors:
            managed.machine.last_error = "; ".join(self.startup_errors.values())
            self.get_logger().error(f"configure refused: {managed.machine.last_error}")
            return TransitionCallbackReturn.FAILURE
        start = State(int(previous.state_id))
        try:
            after = managed.trigger(label)
        except TransitionError as exc:
            # Only if the two machines disagreed already; rclpy then stays where it was.
            self.get_logger().error(f"{label} refused by the node: {exc}")
            return TransitionCallbackReturn.FAILURE
        if managed.last_error:
            self.get_logger().error(f"{label}: {managed.last_error}")
        # A pybind11 enum: members by attribute, not by subscript.
        return getattr(TransitionCallbackReturn, transition_outcome(start, TRANSITION_GOALS[label], after))

    def on_configure(self, state: LifecycleState) -> Any:
        """Configure our node (parameters are read from this node now)."""
        return self._run("configure", state)

    def on_activate(self, state: LifecycleState) -> Any:
        """Activate our node."""
        return self._run("activate", state)

    def on_deactivate(self, state: LifecycleState) -> Any:
        """Deactivate our node."""
        return self._run("deactivate", state)

    def on_cleanup(self, state: LifecycleState) -> Any:
        """Clean our node up."""
        return self._run("cleanup", state)

    def on_shutdown(self, state: LifecycleState) -> Any:
        """Shut our node down."""
        return self._run("shutdown", state)

    def on_error(self, state: LifecycleState) -> Any:
        """Our machine already ran its error processing: report where it ended."""
        managed = self.managed
        after = managed.state if managed is not None else State.FINALIZED
        return getattr(TransitionCallbackReturn, error_outcome(after))


def watch_time_reset(host: HostLifecycleNode, executor: Executor, managed: ManagedNode) -> Any:
    """Call `managed.on_time_reset()` (on its executor thread) when ROS time jumps backwards.

    That happens under use_sim_time when a drive is played again (`ros2 bag play --clock`
    restarts /clock): without it the nodes would drop the replayed frames as out of order, or as
    already served. Returns rclpy's jump handle (keep it referenced).
    """
    pending: list[TimerHandle] = []
    lock = threading.Lock()

    def reset() -> None:
        with lock:  # held by post() until the timer handle is stored
            handle = pending.pop() if pending else None
        if handle is not None:
            handle.cancel()
        managed.on_time_reset()
        host.get_logger().info(f"{managed.fqn}: ROS time jumped backwards; stream state reset")

    def post(jump: Any) -> None:
        if jump.delta.nanoseconds >= 0:
            return
        with lock:
            pending.append(executor.create_timer(0.001, reset))

    threshold = JumpThreshold(
        # None disables the forward threshold (rclpy's documented value; its annotation says Duration).
        min_forward=None,  # type: ignore[arg-type, unused-ignore]
        min_backward=Duration(nanoseconds=-TIME_RESET_MIN_JUMP_NS),
        on_clock_change=False,
    )
    return host.get_clock().create_jump_callback(threshold, post_callback=post)


def _arguments(default_name: str, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=default_name, description=f"edge_llm_ros {default_name} (ROS 2 node)")
    parser.add_argument("--autostart", action="store_true", help="configure and activate at once")
    return parser.parse_args(remove_ros_args(args=[default_name, *argv])[1:])


def run_ros2_node(node_cls: type[ManagedNode], default_name: str, argv: list[str]) -> int:
    """Host `node_cls` as an rclpy lifecycle node until shutdown; returns the exit code."""
    args = _arguments(default_name, argv)
    rclpy.init(args=[default_name, *argv])
    context = get_default_context()
    stop = threading.Event()
    context.on_shutdown(stop.set)
    host: HostLifecycleNode | None = None
    bus: Ros2Bus | None = None
    managed: ManagedNode | None = None
    spinner: ExecutorThread | None = None
    exporter: TelemetryExporter | None = None
    root = logging.getLogger("edge_llm_ros")
    code = 0
    try:
        host = HostLifecycleNode(node_cls, default_name)
        root.addHandler(RosoutHandler(host))
        # rcutils severities are Python's levels (10..50): follow `--ros-args --log-level`.
        root.setLevel(int(host.get_logger().get_effective_level()))
        root.propagate = False  # rclpy's logger already writes to the console
        bus = Ros2Bus({"context": context, "adopt": host})
        node_context = NodeContext(bus=bus, clock=RosClock(host), qos=host.qos_catalog(), params_document={})
        managed = node_cls(
            node_context,
            NodeOptions(host.get_name(), host.get_namespace(), ParameterView(host, host.schema), {}),
        )
        host.bind(managed)
        # /diagnostics always (from the hosted node itself); /metrics when metrics_port >= 0.
        metrics_port = int(host.get_parameter(METRICS_PORT_PARAMETER).value)
        exporter = TelemetryExporter(
            node_context, {managed.name: managed}, port=max(metrics_port, 0), bus_node=managed.bus_node
        )
        if metrics_port >= 0:
            bound = exporter.start()
            host.get_logger().info(f"{managed.fqn} metrics on http://127.0.0.1:{bound}/metrics")
        spinner = ExecutorThread(node_context.executor, f"{managed.name}-executor").start()
        time_reset = watch_time_reset(host, node_context.executor, managed)  # noqa: F841 - kept alive
        host.get_logger().info(f"{managed.fqn} ready ({managed.state.label}); parameters from rclpy")
        if args.autostart:
            # Through rclpy's machine, so both machines (and `ros2 lifecycle get`) agree.
            host.trigger_configure()
            if managed.state is State.INACTIVE:
                host.trigger_activate()
            if managed.state is not State.ACTIVE:
                host.get_logger().error(f"{managed.fqn} failed to start: {managed.last_error}")
                code = 1
        while code == 0 and not stop.wait(0.1) and managed.state is not State.FINALIZED:
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if spinner is not None:
            spinner.stop()
        if exporter is not None:
            exporter.close()
        if managed is not None:
            managed.destroy()
        if bus is not None:
            bus.close()
        if host is not None:
            host.destroy_node()
        for handler in list(root.handlers):
            if isinstance(handler, RosoutHandler):
                root.removeHandler(handler)
        rclpy.try_shutdown()
    return code


__all__ = ["HostLifecycleNode", "ParameterView", "RosClock", "run_ros2_node"]
