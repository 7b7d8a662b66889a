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

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_log = logging.getLogger(__name__)

#: Set in every child so it can notice that its supervisor vanished (see `node_main`).
PARENT_ENV = "EDGE_LLM_ROS_SUPERVISOR_PID"
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
            "edge_llm_ros.cli.run",
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
            "zenoh",
        ]
        if self._zenoh_file is not None:
            argv += ["--zenoh-config", str(self._zenoh_file)]
        return argv

    def start(self) -> RunSession:
        """Open the bus, start the manager and bring every node up (raises on failure, after cleaning up)."""
        from edge_llm_ros.manager.spawner import ProcessSupervisor
        from edge_llm_ros.nodes.lifecycle_manager import InprocSpawner, LifecycleManagerNode
        from edge_llm_ros.runtime.context import NodeContext, NodeOptions
        from edge_llm_ros.runtime.executor import ExecutorThread
        from edge_llm_ros.runtime.lifecycle import State
        from edge_llm_ros.transport.factory import create_bus
        from edge_llm_ros.transport.qos import QoSCatalog

        try:
            transport = self.options.transport
            self._zenoh_file: Path | None = None
            if transport == "zenoh":
                zenoh_settings = dict(self.options.zenoh or {})
                self._zenoh_file = self.run_dir / "zenoh.yaml"
                self._zenoh_file.write_text(yaml.safe_dump(zenoh_settings), encoding="utf-8")
                self.bus = create_bus("zenoh", zenoh_settings)
            elif transport == "inproc":
                self.bus = create_bus("inproc")
            else:
                raise ValueError(f"transport must be zenoh or inproc, got {transport!r}")
            context = NodeContext(bus=self.bus, qos=QoSCatalog.from_yaml(self.qos_file), params_document=self.document)
            self._spinner = ExecutorThread(context.executor, "run-executor").start()
            if transport == "zenoh":
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


# ====================================================================== CLI
def _pairs(items: Sequence[str], sep: str, what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, found, value = item.partition(sep)
        if not found or not key:
            raise SystemExit(f"{what} {item!r} must look like NAME{sep}VALUE")
        out[key] = value
    return out


def register(subparsers: Any) -> None:
    """Add the `run` subcommand."""
    p = subparsers.add_parser(
        "run",
        help="run the lifecycle manager and every node of a scene (with warm standbys)",
        description="Start the lifecycle manager and the scene's nodes: one process per node instance "
        "on loopback (zenoh) or all in this process (inproc). Ctrl-C stops everything.",
    )
    p.add_argument("--config", default="traffic.yaml", help="scene YAML (default: the shipped traffic.yaml)")
    p.add_argument("--transport", default="zenoh", choices=("zenoh", "inproc"))
    p.add_argument("--standby", action="append", default=[], metavar="KIND=N", help="warm standbys for a node kind")
    p.add_argument("--set", action="append", default=[], metavar="NAME:=VALUE", help="lifecycle_manager parameter")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KIND.NAME:=VALUE", help="node parameter")
    p.add_argument("--model-store", help="model store for every node (and swap validation)")
    p.add_argument("--zenoh-config", help="zenoh settings YAML (endpoints, hub, domain)")
    p.add_argument("--run-dir", type=Path, help="where instance params and logs go (default: a temp dir)")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--status-every", type=float, default=0.0, metavar="S", help="print status every S seconds")
    p.add_argument(
        "--metrics-port", type=int, help="serve Prometheus /metrics (manager events, roles) on 127.0.0.1:PORT"
    )
    p.add_argument("--blackbox", type=Path, metavar="DIR", help="keep a black box; dumps go to DIR")
    p.add_argument("--blackbox-window", type=float, default=10.0, metavar="S", help="black-box window (seconds)")
    p.add_argument("--blackbox-max-mb", type=float, default=256.0, metavar="MB", help="black-box size bound")
    from edge_llm_ros.ops.run_ops import add_arguments as add_ops_arguments

    add_ops_arguments(p)
    p.set_defaults(func=run)


def options_from_args(args: argparse.Namespace) -> RunOptions:
    """RunOptions from parsed CLI arguments."""
    standbys = {k: int(v) for k, v in _pairs(args.standby, "=", "--standby").items()}
    manager_params = {k: yaml.safe_load(v) for k, v in _pairs(args.set, ":=", "--set").items()}
    node_params: dict[str, dict[str, Any]] = {}
    for key, value in _pairs(args.param, ":=", "--param").items():
        kind, dot, name = key.partition(".")
        if not dot or not name:
            raise SystemExit(f"--param {key!r} must look like KIND.NAME:=VALUE")
        node_params.setdefault(kind, {})[name] = yaml.safe_load(value)
    if args.model_store:
        store = str(Path(args.model_store).resolve())
        manager_params.setdefault("model_store", store)
        for kind in ("vision_inference", "roi_preprocess"):
            node_params.setdefault(kind, {}).setdefault("model_store", store)
    zenoh = yaml.safe_load(Path(args.zenoh_config).read_text(encoding="utf-8")) if args.zenoh_config else None
    return RunOptions(
        config=Path(args.config),
        transport=args.transport,
        standbys=standbys,
        manager_params=manager_params,
        node_params=node_params,
        zenoh=zenoh,
        run_dir=args.run_dir,
    )


def format_status(status: Mapping[str, Any]) -> str:
    """A compact table of every instance."""
    lines = [f"{'node':<18} {'instance':<28} {'role':<10} {'state':<13} {'pid':>7}  model"]
    for group in status["nodes"]:
        for inst in group["instances"]:
            lines.append(
                f"{group['node']:<18} {inst['name']:<28} {inst['role']:<10} {inst['state']:<13} "
                f"{inst['pid'] or '-':>7}  {inst['model'] or '-'}"
            )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Execute `edge-llm-ros run`."""
    logging.getLogger("edge_llm_ros").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    options = options_from_args(args)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    session = RunSession(options)
    exporter: Any = None
    recorder: Any = None
    ops_server: Any = None
    try:
        try:
            session.start()
        except (RuntimeError, ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(format_status(session.status()), flush=True)
        if getattr(args, "metrics_port", None) is not None:
            from edge_llm_ros.ops.run_metrics import start_run_exporter

            hosted = dict(getattr(session.spawner, "nodes", {}) or {})
            exporter = start_run_exporter(session.node, hosted, args.metrics_port)
            print(f"metrics: {exporter.server.url}", flush=True)
        if getattr(args, "blackbox", None) is not None:
            from edge_llm_ros.cli.replay import blackbox_config
            from edge_llm_ros.ops.blackbox.recorder import BlackBoxRecorder, sensor_topics

            recorder = BlackBoxRecorder(session.bus, blackbox_config(args), sensor_topics(session.document))
            recorder.watch_manager(lambda: session.manager.counters)
            print(f"black box: last {args.blackbox_window:g} s, dumps to {args.blackbox}", flush=True)
        from edge_llm_ros.ops.run_ops import start_ops_server

        try:
            ops_server = start_ops_server(args, session, exporter, recorder)
        except (ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if ops_server is not None:
            print(f"ops: grpcs://{ops_server.target} (mutual TLS); audit {ops_server.audit.path}", flush=True)
        print(f"running ({options.transport}); run dir {session.run_dir}; Ctrl-C stops", flush=True)
        deadline = time.monotonic() + args.duration if args.duration else None
        next_status = time.monotonic() + args.status_every if args.status_every > 0 else None
        while not stop.wait(0.2):
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if next_status is not None and now >= next_status:
                print(format_status(session.status()), flush=True)
                next_status = now + args.status_every
        events = session.manager.events()
        if events:
            print(json.dumps(events[-10:], indent=1))
    finally:
        if ops_server is not None:
            ops_server.stop()
        if recorder is not None:
            recorder.close()
        if exporter is not None:
            exporter.close()
        session.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


# ====================================================================== node processes
def _watch_parent(expected: int) -> None:
    """Exit when the supervisor that started us is gone (no orphans after a kill -9 of `run`)."""

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != expected:
                os.kill(os.getpid(), signal.SIGTERM)  # the host closes its session cleanly...
                time.sleep(3.0)
                os._exit(3)  # ...or we leave anyway

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def node_main(argv: Sequence[str]) -> int:
    """`python -m edge_llm_ros.cli.run --node KIND [host args]`: one node instance (what the supervisor runs)."""
    from edge_llm_ros.nodes.host import run_node
    from edge_llm_ros.nodes.registry import node_class

    args = list(argv)
    if len(args) < 2 or args[0] != "--node":
        print("usage: python -m edge_llm_ros.cli.run --node KIND [--name NAME] [host options]", file=sys.stderr)
        return 2
    kind = args[1]
    parent = os.environ.get(PARENT_ENV)
    if parent and parent.isdigit():
        _watch_parent(int(parent))
    return run_node(node_class(kind), kind, args[2:])


if __name__ == "__main__":
    sys.exit(node_main(sys.argv[1:]))
