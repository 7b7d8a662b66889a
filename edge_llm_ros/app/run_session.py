"""`edge-llm-ros run`: the lifecycle manager and every node of a scene, with warm standbys.

    edge-llm-ros run --config config/traffic.yaml --transport zenoh --standby vision_inference=1

With `--transport zenoh` every node instance is its own process on loopback (rmw_zenoh wire
format), started, watched, killed and respawned by a process supervisor that lives here, next to
the lifecycle manager; with `--transport inproc` everything runs in this one process. SIGINT or
SIGTERM stops everything: nodes get the shutdown transition, then SIGTERM, then SIGKILL after a
bounded wait; no process outlives the run (children also exit when this process disappears).

`RunSession` is the same thing as a library, for tests and `edge-llm-ros bench failover|swap`.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge_llm_ros.hosting.process import PARENT_ENV

_log = logging.getLogger(__name__)

MANAGER_NAME = "lifecycle_manager"


@dataclass
class RunOptions:
    """What to run and how."""

    config: Path
    transport: str = "zenoh"
    #: kind -> standbys (adds to / overrides the YAML's lifecycle_manager standbys.<kind>).
    standbys: Mapping[str, int] = field(default_factory=dict)
    #: Extra lifecycle_manager parameters (name -> value).
    manager_params: Mapping[str, Any] = field(default_factory=dict)
    #: Per-kind parameter overrides for every instance of that kind.
    node_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Settings of the transport (zenoh_config's for zenoh), handed to every node process too.
    zenoh: Mapping[str, Any] | None = None
    run_dir: Path | None = None
    qos_file: Path | None = None
    env: Mapping[str, str] | None = None


class RunSession:
    """A started scene: bus, manager node, supervisor. Use as a context manager; `close()` is bounded."""

    def __init__(self, options: RunOptions) -> None:
        from edge_llm_ros.config_files import find_config
        from edge_llm_ros.runtime.params import load_params_file

        self.options = options
        self.config_path = find_config(str(options.config))
        self.document: dict[str, Any] = load_params_file(self.config_path)
        for kind, values in options.node_params.items():
            section = self.document.setdefault(kind, {"ros__parameters": {}})
            section.setdefault("ros__parameters", {}).update(dict(values))
        self.qos_file = Path(options.qos_file) if options.qos_file else find_config("qos.yaml")
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if options.run_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="edge_llm_ros_run_")
            self.run_dir = Path(self._tmp.name)
        else:
            self.run_dir = Path(options.run_dir)
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.bus: Any = None
        self.supervisor: Any = None
        self.spawner: Any = None
        self.node: Any = None
        self._spinner: Any = None
        self._closed = False

    # ------------------------------------------------------------------ set-up
    def manager_overrides(self) -> dict[str, Any]:
        """The lifecycle_manager parameters: YAML section, then --standby, then --set."""
        from edge_llm_ros.runtime.params import params_for_node

        overrides = params_for_node(self.document, MANAGER_NAME)
        overrides.update({f"standbys.{kind}": int(n) for kind, n in self.options.standbys.items()})
        overrides.update(self.options.manager_params)
        return overrides

    def _instance_params_file(self, spec: Any) -> Path:
        """A params file for one instance: its kind's section under its own name, plus overrides."""
        from edge_llm_ros.runtime.params import params_for_node

        values = params_for_node(self.document, spec.kind, spec.namespace)
        values.update(spec.overrides)
        data: dict[str, Any] = {spec.name: {"ros__parameters": values}}
        path = self.run_dir / "params" / f"{spec.name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=True), encoding="utf-8")
        return path

    def _command(self, spec: Any) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "edge_llm_ros.hosting.process",
            "--node",
            spec.kind,
            "--name",
            spec.name,
            "--namespace",
            spec.namespace,
            "--params-file",
            str(self._instance_params_file(spec)),
            "--qos-file",
            str(self.qos_file),
            "--transport",
            self.options.transport,
        ]
        if self._transport_file is not None:
            argv += ["--transport-config", str(self._transport_file)]
        return argv

    def start(self) -> RunSession:
        """Open the bus, start the manager and bring every node up (raises on failure, after cleaning up)."""
        from edge_llm_ros.hosting.inproc_spawner import InprocSpawner
        from edge_llm_ros.manager.spawner import ProcessSupervisor
        from edge_llm_ros.nodes.lifecycle_manager import LifecycleManagerNode
        from edge_llm_ros.runtime.context import NodeContext, NodeOptions
        from edge_llm_ros.runtime.executor import ExecutorThread
        from edge_llm_ros.runtime.lifecycle import State
        from edge_llm_ros.transport.bus import Capability
        from edge_llm_ros.transport.factory import capabilities, create_bus
        from edge_llm_ros.transport.qos import QoSCatalog

        try:
            transport = self.options.transport
            self._transport_file: Path | None = None
            # One process per instance where the transport reaches across processes; else all here.
            processes = Capability.MULTI_PROCESS in capabilities(transport)
            if processes:
                settings = dict(self.options.zenoh or {})
                self._transport_file = self.run_dir / "transport.yaml"
                self._transport_file.write_text(yaml.safe_dump(settings), encoding="utf-8")
                self.bus = create_bus(transport, settings)
            else:
                self.bus = create_bus(transport)
            context = NodeContext(bus=self.bus, qos=QoSCatalog.from_yaml(self.qos_file), params_document=self.document)
            self._spinner = ExecutorThread(context.executor, "run-executor").start()
            if processes:
                env = dict(os.environ if self.options.env is None else self.options.env)
                package_root = str(Path(__file__).resolve().parents[2])
                env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
                env[PARENT_ENV] = str(os.getpid())
                self.supervisor = ProcessSupervisor(self._command, self.run_dir / "logs", env=env)
                self.spawner = self.supervisor
            else:
                self.spawner = InprocSpawner(context)
            self.node = LifecycleManagerNode(
                context, NodeOptions(MANAGER_NAME, parameter_overrides=self.manager_overrides())
            )
            self.node.spawner = self.spawner
            if self.node.configure() is not State.INACTIVE:
                raise RuntimeError(f"lifecycle manager configure failed: {self.node.last_error}")
            if self.node.activate() is not State.ACTIVE:
                raise RuntimeError(f"bring-up failed: {self.node.last_error}")
        except BaseException:
            self.close()
            raise
        return self

    # ------------------------------------------------------------------ use
    @property
    def manager(self) -> Any:
        """The LifecycleManager."""
        return self.node.manager

    def status(self) -> dict[str, Any]:
        """The manager's status."""
        status: dict[str, Any] = self.manager.status()
        return status

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> int:
        """Send `sig` to an instance's process group (zenoh only); returns its pid."""
        if self.supervisor is None:
            raise RuntimeError("signals need --transport zenoh (one process per instance)")
        pid: int = self.supervisor.send_signal(name, sig)
        return pid

    # ------------------------------------------------------------------ teardown
    def close(self) -> None:
        """Shut nodes down, stop processes (bounded), close the bus. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.node is not None:
                self.node.destroy()
        except Exception:
            _log.exception("manager shutdown failed")
        finally:
            if self.supervisor is not None:
                self.supervisor.stop_all(5.0)
            elif self.spawner is not None:
                self.spawner.stop_all()
            if self._spinner is not None:
                self._spinner.stop()
            if self.bus is not None:
                self.bus.close()
            if self._tmp is not None:
                self._tmp.cleanup()

    def __enter__(self) -> RunSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
