"""A fleet run: namespaces, WAN, certificates, routers, cloud and vehicles; a link cut; results.

    with FleetScenario(FleetOptions(vehicles=3, drive_s=20)) as scenario:
        run = scenario.run()

Hosts are network namespaces `elr-<token>-{wan,cloud,v1,...}`; the cloud is 10.77.0.1 and
vehicle i is 10.77.0.(10+i) on TUN links of the WAN emulator (wan.py), which exist only inside
those namespaces. Every vehicle router connects to the cloud router over mTLS. `close()` stops
every process (SIGTERM, then SIGKILL), the emulator, and deletes the namespaces, also after a
failure; every wait is bounded.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_llm_ros.fleet.certs import make_credentials
from edge_llm_ros.fleet.links import (
    cloud_router_config,
    fast_client_config,
    local_client_config,
    vehicle_router_config,
)
from edge_llm_ros.fleet.netns import NamespaceSet
from edge_llm_ros.fleet.procs import Child, child_env
from edge_llm_ros.fleet.wan import HostSpec, LinkParams, Wan
from edge_llm_ros.scenes import synthesize

CLOUD_ADDRESS = "10.77.0.1"


def vehicle_address(index: int) -> str:
    """WAN address of vehicle `index` (1-based)."""
    return f"10.77.0.{10 + index}"


@dataclass
class FleetOptions:
    """What to run."""

    vehicles: int = 3
    drive_s: float = 20.0
    delay_ms: float = 20.0  # one way, vehicle <-> cloud
    loss: float = 0.01  # per packet, each direction, on every vehicle link
    rate_kbit: float = 0.0  # uplink rate limit per vehicle (0 = none)
    cut_vehicle: str | None = "v1"
    cut_at_s: float = 5.0  # drive time of the cut
    cut_for_s: float = 10.0
    model_store: str | None = None  # full pipeline (camera path) when set
    seed: int = 0
    #: Operator requests sent during the run: (vehicle, op, parameters).
    requests: list[tuple[str, str, str]] = field(default_factory=lambda: [("v1", "status", ""), ("v2", "snapshot", "")])
    #: When (drive time) the requests go out.
    requests_at_s: float = 2.0
    work_dir: Path | None = None
    drain_s: float = 20.0
    #: Send every decision a second time over the vehicle's QUIC path (links.fast_client_config).
    fast_path: bool = True
    #: Lower the TCP minimum RTO in vehicle and cloud namespaces (Linux >= 6.11 sysctl); see docs.
    tcp_rto_min_ms: float | None = None


@dataclass
class FleetRun:
    """What a run measured (inputs for the report)."""

    options: FleetOptions
    summaries: dict[str, dict[str, Any]]
    records: list[dict[str, Any]]
    wan: dict[str, dict[str, Any]]
    cloud: dict[str, Any]
    cut: dict[str, Any]
    operator: list[dict[str, Any]]
    start_ns: int
    tuning: dict[str, bool]
    #: CPU seconds and resident MiB of the routers and the cloud subscriber over the run.
    usage: dict[str, dict[str, float]] = field(default_factory=dict)


class FleetScenario:
    """Sets up and runs one fleet scenario; use as a context manager."""

    def __init__(self, options: FleetOptions) -> None:
        self.options = options
        self.names = [f"v{i}" for i in range(1, options.vehicles + 1)]
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if options.work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="edge_llm_ros_fleet_")
            self.work = Path(self._tmp.name)
        else:
            self.work = Path(options.work_dir)
            self.work.mkdir(parents=True, exist_ok=True)
        self.ns: NamespaceSet | None = None
        self.wan: Wan | None = None
        self.children: list[Child] = []
        self.cloud: Child | None = None

    # ------------------------------------------------------------------ set-up
    def _drives(self) -> dict[str, Path]:
        drives = {}
        for i, name in enumerate(self.names):
            path = self.work / "drives" / name
            if not path.exists():
                synthesize(path, scene="traffic", duration_s=self.options.drive_s, seed=self.options.seed + i)
            drives[name] = path
        return drives

    def _write(self, name: str, values: dict[str, Any]) -> Path:
        path = self.work / "config" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=1), encoding="utf-8")
        return path

    def _child(self, host: str, name: str, argv: list[str], pipes: bool = False) -> Child:
        assert self.ns is not None
        child = Child(
            name, self.ns.exec_argv(host, [sys.executable, "-m", *argv]), self.work / "logs" / f"{name}.log", pipes
        )
        self.children.append(child)
        return child

    def start(self) -> FleetScenario:
        """Namespaces, WAN, certificates, routers and the cloud subscriber (vehicles start in run())."""
        opts = self.options
        (self.work / "logs").mkdir(parents=True, exist_ok=True)
        try:
            self.ns = NamespaceSet(["wan", "cloud", *self.names])
            link = LinkParams(delay_ms=opts.delay_ms, loss=opts.loss, rate_kbit=opts.rate_kbit)
            hosts = [HostSpec("cloud", self.ns["cloud"], CLOUD_ADDRESS)]
            hosts += [
                HostSpec(n, self.ns[n], vehicle_address(i), LinkParams(**vars(link)))
                for i, n in enumerate(self.names, 1)
            ]
            self.tuning = {}
            if opts.tcp_rto_min_ms is not None:
                for host in ["cloud", *self.names]:
                    self.tuning[host] = self.ns.sysctl(
                        host, "net.ipv4.tcp_rto_min_us", str(int(opts.tcp_rto_min_ms * 1000))
                    )
            self.wan = Wan(
                self.ns.exec_argv("wan", []), hosts, self.ns.token, self.work / "wan.json", opts.seed, env=child_env()
            )
            self._creds = creds = make_credentials(
                self.work / "certs",
                [("cloud", CLOUD_ADDRESS)] + [(n, vehicle_address(i)) for i, n in enumerate(self.names, 1)],
            )
            client = self._write("client", local_client_config())
            cloud_router = self._child(
                "cloud",
                "router_cloud",
                [
                    "edge_llm_ros.fleet.router",
                    str(self._write("router_cloud", cloud_router_config(CLOUD_ADDRESS, creds["cloud"]))),
                ],
            )
            cloud_router.wait_log('"ready": true', 20.0)
            self._routers_up = time.monotonic()
            routers = [
                self._child(
                    n,
                    f"router_{n}",
                    [
                        "edge_llm_ros.fleet.router",
                        str(self._write(f"router_{n}", vehicle_router_config(CLOUD_ADDRESS, creds[n]))),
                    ],
                )
                for n in self.names
            ]
            for router in routers:
                router.wait_log('"ready": true', 20.0)
            self.cloud = self._child(
                "cloud",
                "cloud",
                ["edge_llm_ros.fleet.cloud", "--zenoh", str(client), "--records", str(self.work / "received.jsonl")],
                pipes=True,
            )
            ready = self.cloud.read_json(20.0)
            if not ready.get("ready"):
                raise RuntimeError(f"cloud subscriber failed: {ready}")
            self._client = client
        except BaseException:
            self.close()
            raise
        return self

    # ------------------------------------------------------------------ run
    def run(self) -> FleetRun:
        """Start the vehicles, drive, cut and restore a link, ask operator questions, collect."""
        assert self.wan is not None and self.cloud is not None
        opts = self.options
        drives = self._drives()
        start_file = self.work / "start"
        vehicles = {}
        for name in self.names:
            argv = [
                "edge_llm_ros.fleet.vehicle",
                "--vehicle",
                name,
                "--bag",
                str(drives[name]),
                "--zenoh",
                str(self._client),
                "--out",
                str(self.work / f"{name}.json"),
                "--ready-file",
                str(self.work / f"{name}.ready"),
                "--start-file",
                str(start_file),
                "--drain",
                str(opts.drain_s),
            ]
            if opts.fast_path:
                fast = self._write(f"fast_{name}", fast_client_config(CLOUD_ADDRESS, self._creds[name]))
                argv += ["--fast-zenoh", str(fast)]
            if opts.model_store:
                argv += ["--model-store", opts.model_store]
            vehicles[name] = self._child(name, f"vehicle_{name}", argv)
        deadline = time.monotonic() + 120.0
        while not all((self.work / f"{n}.ready").exists() for n in self.names):
            failed = [c.name for c in vehicles.values() if c.proc.poll() is not None]
            if failed or time.monotonic() > deadline:
                raise RuntimeError(f"vehicles not ready (exited: {failed}); logs in {self.work / 'logs'}")
            time.sleep(0.1)
        start = time.time() + 1.0
        start_file.write_text(f"{start:.6f}\n", encoding="utf-8")
        cut: dict[str, Any] = {}
        timeline = threading.Thread(target=self._cut, args=(start, cut), daemon=True)
        timeline.start()
        operator: list[dict[str, Any]] = []
        time.sleep(max(0.0, start + opts.requests_at_s - time.time()))
        for vehicle, op, params in opts.requests:
            answer = self.cloud.command(
                {"cmd": "request", "vehicle": vehicle, "op": op, "parameters": params, "timeout": 5}, 15.0
            )
            operator.append({"vehicle": vehicle, "op": op, **answer})
        timeline.join(opts.cut_at_s + opts.cut_for_s + opts.drive_s + 10.0)
        bound = opts.drive_s + opts.drain_s + 60.0
        for child in vehicles.values():
            if child.wait(max(1.0, start + bound - time.time())) is None:
                raise RuntimeError(f"{child.name} did not finish within {bound} s; see {child.log}")
        time.sleep(0.3)  # last acks / records flushed
        usage = {c.name: c.usage() for c in self.children if c.name.startswith(("router_", "cloud"))}
        usage["run"] = {"wall_s": time.monotonic() - self._routers_up, "drive_s": opts.drive_s}
        cloud_stats = self.cloud.command({"cmd": "stats"})["stats"]
        summaries = {n: json.loads((self.work / f"{n}.json").read_text(encoding="utf-8")) for n in self.names}
        records_path = self.work / "received.jsonl"
        self.cloud.command({"cmd": "quit"})
        self.cloud.wait(5.0)
        records = [json.loads(line) for line in records_path.read_text(encoding="utf-8").splitlines() if line]
        wan_stats = self.wan.stats()
        return FleetRun(
            opts,
            summaries,
            records,
            wan_stats,
            cloud_stats,
            cut,
            operator,
            int(start * 1e9),
            getattr(self, "tuning", {}),
            usage,
        )

    def _cut(self, start: float, out: dict[str, Any]) -> None:
        opts = self.options
        if not opts.cut_vehicle or opts.cut_for_s <= 0 or self.wan is None:
            return
        time.sleep(max(0.0, start + opts.cut_at_s - time.time()))
        self.wan.set_link(opts.cut_vehicle, up=False)
        out["vehicle"], out["down_ns"] = opts.cut_vehicle, time.time_ns()
        time.sleep(opts.cut_for_s)
        self.wan.set_link(opts.cut_vehicle, up=True)
        out["up_ns"] = time.time_ns()

    # ------------------------------------------------------------------ teardown
    def close(self) -> None:
        """Stop every process, the WAN, delete the namespaces (idempotent, bounded)."""
        if self.cloud is not None and self.cloud.proc.poll() is None:
            try:
                self.cloud.command({"cmd": "quit"}, 5.0)
                self.cloud.wait(5.0)
            except (RuntimeError, OSError, ValueError):
                pass
        # Last started first: vehicles, then the cloud subscriber, then the routers.
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        if self.wan is not None:
            self.wan.close()
            self.wan = None
        if self.ns is not None:
            self.ns.close()
            self.ns = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> FleetScenario:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
