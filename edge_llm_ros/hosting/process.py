"""Run one node in its own process: the node console scripts and what the process supervisor starts.

    python -m edge_llm_ros.hosting.process --node KIND [--name NAME] [host options]

With `--ros-args` and rclpy importable, the node is hosted by rclpy (ROS 2); otherwise it joins
the zenoh bus (rmw_zenoh wire format) or, for quick checks, an inproc bus of its own.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from edge_llm_ros.runtime.context import NodeContext, NodeOptions
from edge_llm_ros.runtime.executor import ExecutorThread
from edge_llm_ros.runtime.lifecycle import State
from edge_llm_ros.runtime.managed_node import ManagedNode
from edge_llm_ros.runtime.params import load_params_file
from edge_llm_ros.transport.factory import BUS_KINDS, create_bus
from edge_llm_ros.transport.qos import QoSCatalog

#: Set in every child so it can notice that its supervisor vanished (see `node_main`).
PARENT_ENV = "EDGE_LLM_ROS_SUPERVISOR_PID"


def parser(default_name: str) -> argparse.ArgumentParser:
    """Arguments shared by every node process."""
    p = argparse.ArgumentParser(prog=default_name, description=f"edge_llm_ros {default_name} node")
    p.add_argument("--name", default=default_name, help="node name")
    p.add_argument("--namespace", default="/", help="node namespace")
    p.add_argument("--params-file", help="scene YAML (ROS 2 params layout)")
    p.add_argument("--qos-file", help="QoS profiles YAML (config/qos.yaml)")
    p.add_argument("--transport", default="zenoh", choices=BUS_KINDS, help="bus adapter")
    p.add_argument(
        "--transport-config",
        "--zenoh-config",
        dest="transport_config",
        help="transport settings YAML (zenoh: endpoints, mode, domain)",
    )
    p.add_argument("--autostart", action="store_true", help="configure and activate without a manager")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics on 127.0.0.1:PORT (0 = any)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE", help="override")
    p.add_argument("-r", "--remap", action="append", default=[], metavar="FROM:=TO", help="remap a name")
    return p


def _split(pairs: list[str], what: str) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if ":=" not in pair:
            raise SystemExit(f"{what} {pair!r} must look like NAME:=VALUE")
        key, value = pair.split(":=", 1)
        out[key] = value
    return out


def run_node(node_cls: type[ManagedNode], default_name: str, argv: list[str] | None = None) -> int:
    """Host `node_cls` until SIGINT/SIGTERM; returns a process exit code."""
    import yaml

    args_list = list(sys.argv[1:] if argv is None else argv)
    if "--ros-args" in args_list:
        try:
            from edge_llm_ros.hosting.ros2_host import run_ros2_node  # the only path that imports rclpy
        except ImportError as exc:
            print(f"{default_name}: --ros-args needs ROS 2 (rclpy): {exc}; source your ROS 2 setup.bash first")
            return 2
        return run_ros2_node(node_cls, default_name, args_list)
    args = parser(default_name).parse_args(args_list)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config_file = Path(args.transport_config) if args.transport_config else None
    settings = yaml.safe_load(config_file.read_text(encoding="utf-8")) if config_file else None
    bus = create_bus(args.transport, settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        context = NodeContext(
            bus=bus,
            qos=QoSCatalog.from_yaml(args.qos_file) if args.qos_file else QoSCatalog({}),
            params_document=load_params_file(args.params_file) if args.params_file else {},
        )
        overrides = {k: yaml.safe_load(v) for k, v in _split(args.param, "parameter").items()}
        node = node_cls(context, NodeOptions(args.name, args.namespace, overrides, _split(args.remap, "remap")))
        exporter = None
        if args.metrics_port is not None:
            from edge_llm_ros.nodes.telemetry_exporter import TelemetryExporter

            exporter = TelemetryExporter(context, {args.name: node}, port=args.metrics_port)
            logging.info("%s metrics on http://127.0.0.1:%d/metrics", node.fqn, exporter.start())
        spinner = ExecutorThread(context.executor, f"{args.name}-executor").start()
        if args.autostart and node.bring_up() is not State.ACTIVE:
            logging.error("%s failed to start: %s", node.fqn, node.last_error)
            return 1
        while not stop.wait(0.2) and node.state is not State.FINALIZED:
            pass
        spinner.stop()
        if exporter is not None:
            exporter.close()
        node.destroy()
    finally:
        bus.close()
    return 0


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
    """One node instance, as the process supervisor starts it (`--node KIND [host args]`)."""
    from edge_llm_ros.nodes.registry import node_class

    args = list(argv)
    if len(args) < 2 or args[0] != "--node":
        print("usage: python -m edge_llm_ros.hosting.process --node KIND [--name NAME] [host options]", file=sys.stderr)
        return 2
    kind = args[1]
    parent = os.environ.get(PARENT_ENV)
    if parent and parent.isdigit():
        _watch_parent(int(parent))
    return run_node(node_class(kind), kind, args[2:])


if __name__ == "__main__":
    sys.exit(node_main(sys.argv[1:]))
