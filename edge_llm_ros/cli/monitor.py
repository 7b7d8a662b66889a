"""`edge-llm-ros monitor`: a local Prometheus with the shipped rules, or the config to use.

edge-llm-ros replay DRIVE --rate 1.0 --metrics-port 9100 &
edge-llm-ros monitor --target 127.0.0.1:9100            # Prometheus on http://127.0.0.1:9090
edge-llm-ros monitor --print-config --target HOST:PORT  # the prometheus.yml to use elsewhere
edge-llm-ros monitor --grafana-out DIR                  # dashboard JSON + provisioning YAML
edge-llm-ros monitor --regenerate-dashboard             # rebuild the shipped JSON (Python >= 3.11)
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `monitor` subcommand."""
    p = subparsers.add_parser(
        "monitor",
        help="start Prometheus (where installed) with the shipped rules against the local pipeline",
        description="Start Prometheus on 127.0.0.1 scraping the pipeline's /metrics endpoints with the shipped "
        "recording and alert rules; print the config where Prometheus is not installed.",
    )
    p.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="a /metrics endpoint to scrape (repeatable; default 127.0.0.1:9100)",
    )
    p.add_argument(
        "--alertmanager", action="append", default=[], metavar="HOST:PORT", help="send alerts there (repeatable)"
    )
    p.add_argument("--port", type=int, default=9090, help="Prometheus web/API port on 127.0.0.1 (0: any free)")
    p.add_argument("--scrape-interval", type=float, default=5.0, metavar="S", help="scrape and rule interval")
    p.add_argument("--data-dir", type=Path, help="TSDB directory (default: a temp dir removed at exit)")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--print-config", action="store_true", help="print prometheus.yml and exit")
    p.add_argument("--grafana-out", type=Path, metavar="DIR", help="write the Grafana provisioning files and exit")
    p.add_argument(
        "--regenerate-dashboard", action="store_true", help="rebuild the shipped dashboard JSON (needs the SDK)"
    )
    p.set_defaults(func=run)


def write_grafana(out: Path) -> list[Path]:
    """Grafana's provisioning layout under `out`: provisioning/{dashboards,datasources}, dashboards/."""
    from edge_llm_ros.ops.monitoring.dashboard import DASHBOARD_FILE, GRAFANA_DIR

    written = []
    dashboards = out / "dashboards"
    dashboards.mkdir(parents=True, exist_ok=True)
    written.append(Path(shutil.copy2(DASHBOARD_FILE, dashboards / DASHBOARD_FILE.name)))
    for kind in ("dashboards", "datasources"):
        source = GRAFANA_DIR / "provisioning" / kind / "edge_llm_ros.yml"
        target = out / "provisioning" / kind / "edge_llm_ros.yml"
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        if kind == "dashboards":
            text = text.replace("/var/lib/grafana/dashboards/edge_llm_ros", str(dashboards.resolve()))
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def run(args: argparse.Namespace) -> int:
    """Execute `edge-llm-ros monitor`."""
    from edge_llm_ros.ops.monitoring.prometheus_config import render_config, rule_files
    from edge_llm_ros.ops.monitoring.prometheus_server import PrometheusError, PrometheusServer, find_prometheus

    if args.regenerate_dashboard:
        from edge_llm_ros.ops.monitoring.dashboard import write_dashboard

        try:
            print(f"wrote {write_dashboard()}")
        except ImportError as exc:
            print(f"error: regenerating needs grafana-foundation-sdk (Python >= 3.11): {exc}", file=sys.stderr)
            return 2
        return 0
    if args.grafana_out is not None:
        for path in write_grafana(args.grafana_out):
            print(f"wrote {path}")
        return 0
    targets = args.target or ["127.0.0.1:9100"]
    try:
        config = render_config(targets, scrape_interval_s=args.scrape_interval, alertmanagers=args.alertmanager)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.print_config or find_prometheus() is None:
        if not args.print_config:
            print("# prometheus is not installed (Debian/Ubuntu: apt-get install prometheus); config to use:")
        print(config, end="")
        print("# rule files: " + " ".join(str(p) for p in rule_files()))
        return 0
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = PrometheusServer(
        targets,
        port=args.port,
        scrape_interval_s=args.scrape_interval,
        data_dir=args.data_dir,
        alertmanagers=args.alertmanager,
    )
    try:
        try:
            server.start()
        except PrometheusError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"prometheus: {server.url} scraping {', '.join(targets)}; Ctrl-C stops", flush=True)
        deadline = time.monotonic() + args.duration if args.duration else None
        while not stop.wait(0.2):
            if deadline is not None and time.monotonic() >= deadline:
                break
            if server.process is not None and server.process.poll() is not None:
                print(f"error: prometheus exited: {server.log_tail()}", file=sys.stderr)
                return 2
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
