"""How long a service call to nobody takes to give up, per transport (was a wall-clock assertion in a test).

A call to a service no one serves must raise TransportError once its timeout has passed, not hang.
The contract test checks that it raises; this measures how long it takes, on each transport that
can run here, for a few timeouts. Numbers, not assertions.

    python benchmarks/service_absent.py --calls 5 --json /tmp/service_absent.json
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_llm_ros.telemetry.latency_stats import percentiles
from edge_llm_ros.transport.bus import TransportError
from edge_llm_ros.transport.factory import create_bus

TRIGGER = "std_srvs/srv/Trigger"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(kind: str, timeout_s: float, calls: int) -> dict[str, Any]:
    """Seconds each of `calls` calls to an absent service took to raise."""
    # zenoh: a private hub and domain, so the run meets nobody else's sessions.
    private = {"hub": f"tcp/127.0.0.1:{_free_port()}", "domain_id": random.randint(100, 232)}
    config = private if kind == "zenoh" else None
    with create_bus(kind, config) as bus:
        node = bus.create_node("bench_client")
        took: list[float] = []
        for _ in range(calls):
            start = time.perf_counter()
            try:
                node.call_service("/nobody_home", TRIGGER, b"", timeout_s=timeout_s)
            except TransportError:
                took.append(time.perf_counter() - start)
    return {"transport": kind, "timeout_s": timeout_s, "seconds": percentiles(took, (50, 99), ndigits=4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--timeouts", type=float, nargs="+", default=[0.05, 0.3, 1.0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = [measure(kind, t, args.calls) for kind in ("inproc", "zenoh") for t in args.timeouts]
    for r in results:
        s = r["seconds"]
        print(f"{r['transport']:<7} timeout {r['timeout_s']:>5.2f} s: gave up after p50 {s['p50']} s, max {s['max']} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
