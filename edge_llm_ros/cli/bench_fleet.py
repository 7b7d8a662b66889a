"""`edge-llm-ros bench fleet`: vehicles and a cloud in network namespaces over a shaped WAN (needs root).

    edge-llm-ros bench fleet --vehicles 3 --report out/fleet

Measures vehicle-to-cloud decision latency (p50/p99) under the given one-way delay and loss,
uplink bytes per vehicle against its raw sensor bytes, the delivery ratio, and the recovery time
after cutting one vehicle's uplink; writes fleet.json and fleet.png (see edge_llm_ros/fleet/).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_fleet_bench(verbs: Any) -> None:
    """Add `bench fleet`."""
    p = verbs.add_parser("fleet", help="fleet + cloud over zenoh routers in network namespaces (root)")
    p.add_argument("--vehicles", type=int, default=3)
    p.add_argument("--duration", type=float, default=40.0, help="drive length per vehicle, s (paced at 1.0x)")
    p.add_argument("--delay-ms", type=float, default=20.0, help="one-way delay of each vehicle uplink")
    p.add_argument("--loss", type=float, default=0.01, help="per-packet loss of each vehicle link, each way")
    p.add_argument("--rate-kbit", type=float, default=0.0, help="uplink rate limit per vehicle (0: none)")
    p.add_argument("--cut-at", type=float, default=12.0, help="drive time when v1's uplink is cut, s")
    p.add_argument("--cut-for", type=float, default=10.0, help="how long the cut lasts, s (0: no cut)")
    p.add_argument("--model-store", help="run the full pipeline (camera path) with this model store")
    p.add_argument("--no-fast-path", action="store_true", help="decisions over the router uplink only (no QUIC copy)")
    p.add_argument("--tcp-rto-min-ms", type=float, help="set net.ipv4.tcp_rto_min_us in the host namespaces")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report", type=Path, default=Path("out/fleet"), help="output directory")
    p.set_defaults(func=run_fleet_bench)


def run_fleet_bench(args: argparse.Namespace) -> int:
    """Execute the fleet bench."""
    from edge_llm_ros.fleet.netns import unavailable_reason
    from edge_llm_ros.fleet.report import format_table, write_report
    from edge_llm_ros.fleet.scenario import FleetOptions, FleetScenario

    reason = unavailable_reason()
    if reason:
        print(f"error: {reason}")
        return 2
    options = FleetOptions(
        vehicles=args.vehicles,
        drive_s=args.duration,
        delay_ms=args.delay_ms,
        loss=args.loss,
        rate_kbit=args.rate_kbit,
        cut_vehicle="v1" if args.cut_for > 0 else None,
        cut_at_s=args.cut_at,
        cut_for_s=args.cut_for,
        model_store=str(Path(args.model_store).resolve()) if args.model_store else None,
        seed=args.seed,
        requests=[("v1", "status", "")] + ([("v2", "snapshot", "")] if args.vehicles > 1 else []),
        work_dir=args.report / "work",
        tcp_rto_min_ms=args.tcp_rto_min_ms,
        fast_path=not args.no_fast_path,
    )
    with FleetScenario(options) as scenario:
        run = scenario.run()
    json_path, png_path, figures = write_report(run, args.report)
    print(format_table(figures))
    print(f"report: {json_path}  plot: {png_path}")
    return 0
