"""`edge-llm-ros bench failover|swap`: the command line of the lifecycle benches (app/bench_lifecycle.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edge_llm_ros.app.bench_lifecycle import bench_failover, bench_swap
from edge_llm_ros.app.output_probe import OUTPUT_TOPIC


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--report", required=True, type=Path, help="output directory for the JSON report")
    p.add_argument("--node", default="vision_inference", choices=sorted(OUTPUT_TOPIC), help="node kind to exercise")
    p.add_argument("--config", default="traffic.yaml", help="scene YAML")
    p.add_argument("--bag", help="drive to replay (default: synthesise a traffic drive into the report dir)")
    p.add_argument("--bag-duration", type=float, default=20.0, help="seconds of drive to synthesise")
    p.add_argument("--rate", type=float, default=1.0, help="replay rate (1.0 = real time)")
    p.add_argument("--model-store", help="model store (default: $EDGE_LLM_ROS_MODEL_STORE or the user's store)")
    p.add_argument("--models", nargs="+", help="model ids: the first one starts, swaps alternate")
    p.add_argument("--standbys", type=int, default=1, help="warm standbys of the node")
    p.add_argument("--heartbeat-period", type=float, default=0.01, help="node heartbeat period, s")
    p.add_argument("--heartbeat-timeout", type=float, default=0.05, help="manager heartbeat timeout, s")
    p.add_argument("--settle", type=float, default=1.0, help="seconds of steady output before each cycle")
    p.add_argument("--standby-timeout", type=float, default=120.0, help="wait for a warm standby, s")
    p.add_argument("--person-detector", action="store_true", help="keep the ROI person detector on")


def add_bench_commands(verbs: Any) -> None:
    """Add `failover` and `swap` under an existing `bench` command's subparsers."""
    failover = verbs.add_parser("failover", help="kill the active node N times during a paced replay")
    _common(failover)
    failover.add_argument("--cycles", type=int, default=20, help="kill cycles (>= 20 for the p99)")
    failover.add_argument("--signal", choices=("kill", "stop", "both"), default="kill", help="SIGKILL/SIGSTOP")
    failover.set_defaults(func=bench_failover)
    swap = verbs.add_parser("swap", help="hot-swap the node's model during a paced replay")
    _common(swap)
    swap.add_argument("--swaps", type=int, default=6, help="number of swaps (alternating models)")
    swap.set_defaults(func=bench_swap)


def register(subparsers: Any) -> None:
    """Add `bench` with `failover` and `swap` (use add_bench_commands if `bench` exists already)."""
    bench = subparsers.add_parser("bench", help="benchmarks: lifecycle failover and hot-swap")
    verbs = bench.add_subparsers(dest="bench_command", metavar="{failover,swap}")
    verbs.required = True
    add_bench_commands(verbs)
