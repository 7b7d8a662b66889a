"""`edge-llm-ros bench`: benchmarks that write JSON reports (lifecycle, model compression)."""

from __future__ import annotations

from typing import Any


def register(subparsers: Any) -> None:
    """Add `bench` with failover, swap (lifecycle), optimize (compression variants) and fleet."""
    from edge_llm_ros.cli.bench_fleet import add_fleet_bench
    from edge_llm_ros.cli.bench_lifecycle import add_bench_commands
    from edge_llm_ros.cli.bench_reliability import add_reliability_bench
    from edge_llm_ros.cli.optimize import add_optimize_bench

    bench = subparsers.add_parser(
        "bench", help="benchmarks: lifecycle failover and hot-swap, model compression, fleet, reliability"
    )
    verbs = bench.add_subparsers(dest="bench_command", metavar="{failover,swap,optimize,fleet,reliability}")
    verbs.required = True
    add_bench_commands(verbs)
    add_optimize_bench(verbs)
    add_fleet_bench(verbs)
    add_reliability_bench(verbs)
