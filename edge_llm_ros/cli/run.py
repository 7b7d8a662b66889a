"""`edge-llm-ros run`: the lifecycle manager and every node of a scene, with warm standbys.

    edge-llm-ros run --config config/traffic.yaml --transport zenoh --standby vision_inference=1

The session itself (bus, manager, process supervisor) is `edge_llm_ros.app.run_session.RunSession`.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from edge_llm_ros.app.run_session import RunOptions, RunSession


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
