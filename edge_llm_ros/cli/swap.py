"""Operator commands that talk to a running lifecycle manager over the bus.

    edge-llm-ros swap vision_inference roi_classifier@2      (also: edge-llm-ros models swap ...)
    edge-llm-ros lifecycle status | start | stop | reset

They open a zenoh session with the same settings as `edge-llm-ros run` (loopback hub
tcp/127.0.0.1:7447, ROS_DOMAIN_ID, or --zenoh-config) and call the manager's services
(`/lifecycle_manager/swap`, `.../status`, ...). The exit code is 0 on success, 1 when the
manager refused (the reason is printed), 2 when no manager answered.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manager", default="/lifecycle_manager", help="the manager's node name")
    p.add_argument("--zenoh-config", help="zenoh settings YAML (as given to `edge-llm-ros run`)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the answer")
    p.add_argument("--json", action="store_true", help="print the raw JSON answer")


def add_swap_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of `swap` (for hooking it under another command, e.g. `models swap`)."""
    p.add_argument("node", metavar="NODE", help="node kind to swap, e.g. vision_inference")
    p.add_argument("model", metavar="MODEL_ID", help="model id in the store: NAME@VERSION (or NAME)")
    _add_common(p)
    p.set_defaults(func=swap)


def register(subparsers: Any) -> None:
    """Add the `swap` and `lifecycle` commands."""
    add_swap_arguments(
        subparsers.add_parser(
            "swap",
            help="hot-swap a node's model through the running lifecycle manager",
            description="Validate MODEL_ID (sha256, input/output spec, golden inputs), start a standby with "
            "it, switch roles without dropping a frame, and keep the old model loaded until the new one "
            "has served; a failure rolls back. Needs a running `edge-llm-ros run`.",
        )
    )
    lifecycle = subparsers.add_parser("lifecycle", help="status/start/stop/reset of the running lifecycle manager")
    lifecycle.add_argument("action", choices=("status", "start", "stop", "reset"))
    _add_common(lifecycle)
    lifecycle.set_defaults(func=lifecycle_command)


def _open(args: argparse.Namespace) -> Any:
    from edge_llm_ros.transport.factory import create_bus

    config = yaml.safe_load(Path(args.zenoh_config).read_text(encoding="utf-8")) if args.zenoh_config else None
    return create_bus("zenoh", config)


def swap(args: argparse.Namespace) -> int:
    """`edge-llm-ros swap NODE MODEL_ID`."""
    from edge_llm_ros.nodes.manager_client import call_swap
    from edge_llm_ros.transport.bus import TransportError

    bus = _open(args)
    try:
        client = bus.create_node("edge_llm_ros_swap_cli")
        try:
            result = call_swap(client, args.manager, args.node, args.model, args.timeout)
        except TransportError as exc:
            print(f"error: no answer from {args.manager}: {exc}", file=sys.stderr)
            return 2
    finally:
        bus.close()
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        timings = ", ".join(f"{k} {v:.0f} ms" for k, v in (result.get("timings_ms") or {}).items())
        line = f"{result.get('outcome', '?')}: {args.node} {result.get('previous_model') or '?'} -> {args.model}"
        print(line + (f" ({timings})" if timings else ""))
        if result.get("reason"):
            print(f"reason: {result['reason']}")
    return 0 if result.get("ok") else 1


def lifecycle_command(args: argparse.Namespace) -> int:
    """`edge-llm-ros lifecycle status|start|stop|reset`."""
    from edge_llm_ros.cli.run import format_status
    from edge_llm_ros.nodes.manager_client import call_trigger
    from edge_llm_ros.transport.bus import TransportError

    bus = _open(args)
    try:
        client = bus.create_node("edge_llm_ros_lifecycle_cli")
        try:
            ok, message = call_trigger(client, args.manager, args.action, args.timeout)
        except TransportError as exc:
            print(f"error: no answer from {args.manager}: {exc}", file=sys.stderr)
            return 2
    finally:
        bus.close()
    if args.action == "status" and ok and not args.json:
        status = json.loads(message)
        print(format_status(status))
        for event in status.get("events", [])[-5:]:
            print(json.dumps(event))
    else:
        print(message)
    return 0 if ok else 1
