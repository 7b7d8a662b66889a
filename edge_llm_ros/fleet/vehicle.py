"""One vehicle host: the pipeline on a paced drive plus its uplink agent (runs inside its namespace).

    python -m edge_llm_ros.fleet.vehicle --vehicle v1 --bag DRIVE --zenoh client.json --out v1.json

The pipeline is the real one, in process on the inproc bus (the embedded default: sensor frames
never touch a socket, which is also why raw sensor data cannot leak onto the uplink). With
`--model-store` it is the scene's full pipeline (fusion, ROIs, vision, decision); without, the
camera path is off and every frame is decided from radar and GPS alone by the same decision node
(`decided_without_detections`), which is what a fleet test on a shared 2-core box can afford.
The uplink agent takes decisions, advisories, detections and diagnostics off the same bus.

The drive starts at the wall-clock time written to `--start-file` (so vehicles start together and
link cuts land at known drive times), is paced at 1.0x, and the process waits (bounded) until the
cloud has acknowledged every decision before it writes its summary and exits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_llm_ros.app.pipeline import build_pipeline, scene_config_path
from edge_llm_ros.app.replay.driver import INPUT_TYPES, ReplayDriver
from edge_llm_ros.app.replay.session import ReplayOptions, node_overrides
from edge_llm_ros.bags.reader import BagReader
from edge_llm_ros.fleet.uplink import UplinkAgent
from edge_llm_ros.nodes.telemetry_exporter import TelemetryExporter
from edge_llm_ros.transport.inproc import InprocBus


def raw_sensor_bytes(bag: Path) -> int:
    """CDR bytes of every sensor message of the drive (what streaming raw sensors would send)."""
    with BagReader(bag) as reader:
        return sum(len(m.data) for m in reader.messages() if m.typename in INPUT_TYPES)


def _wait_file(path: Path, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and (text := path.read_text(encoding="utf-8").strip()):
            return text
        time.sleep(0.05)
    raise TimeoutError(f"{path} did not appear within {timeout_s} s")


def run_vehicle(args: argparse.Namespace) -> dict[str, Any]:
    """Bring up, wait for the cloud and the start time, drive, drain; returns the summary."""
    config = scene_config_path("traffic")
    options = ReplayOptions(bag=args.bag, rate=args.rate, model_store=args.model_store)
    overrides = node_overrides(options)
    if args.model_store:
        names = None  # the scene's nodes, as the YAML lists them
    else:
        names = ["sensor_fusion", "decision"]
        # No vision node: decide from radar as soon as the frame is fused.
        overrides.setdefault("decision", {})["detection_timeout_s"] = 0.005
    zenoh_values = json.loads(Path(args.zenoh).read_text(encoding="utf-8"))
    bus = InprocBus()
    pipeline = build_pipeline(bus, config, overrides, node_names=names)
    agent: UplinkAgent | None = None
    exporter: TelemetryExporter | None = None
    try:
        pipeline.bring_up()
        # /diagnostics once a second (and Prometheus on this namespace's loopback), as on a vehicle.
        exporter = TelemetryExporter(pipeline.context, pipeline.nodes, port=0)
        exporter.start()
        fast = json.loads(Path(args.fast_zenoh).read_text(encoding="utf-8")) if args.fast_zenoh else None
        agent = UplinkAgent(args.vehicle, bus, zenoh_values, resend_after_s=args.resend_after, fast_values=fast)
        if not agent.cloud_alive.wait(args.cloud_wait):
            raise TimeoutError(f"cloud not reachable within {args.cloud_wait} s")
        if args.ready_file:
            Path(args.ready_file).write_text("ready\n", encoding="utf-8")
        start = float(_wait_file(args.start_file, args.cloud_wait)) if args.start_file else time.time()
        time.sleep(max(0.0, start - time.time()))
        drive_start_ns = time.time_ns()
        result = ReplayDriver(pipeline, args.bag, rate=args.rate).run()
        drive_end_ns = time.time_ns()
        deadline = time.monotonic() + args.drain
        while agent.unacked() and time.monotonic() < deadline:
            time.sleep(0.05)
        return {
            "vehicle": args.vehicle,
            "camera_path": bool(args.model_store),
            "frames": result.frames_published,
            "decisions_local": len(result.decisions),
            "decisions": agent.decisions,
            "drive_start_ns": drive_start_ns,
            "drive_end_ns": drive_end_ns,
            "drained": agent.unacked() == 0,
            "raw_sensor_bytes": raw_sensor_bytes(args.bag),
            "uplink": agent.stats(),
            "pipeline": pipeline.counters(),
        }
    finally:
        if agent is not None:
            agent.close()
        if exporter is not None:
            exporter.close()
        pipeline.shutdown()
        bus.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of a vehicle process."""
    p = argparse.ArgumentParser(prog="python -m edge_llm_ros.fleet.vehicle")
    p.add_argument("--vehicle", required=True, help="vehicle id: ROS namespace and key prefix")
    p.add_argument("--bag", type=Path, required=True)
    p.add_argument("--zenoh", required=True, help="JSON {zenoh config path: value} of the uplink client")
    p.add_argument("--fast-zenoh", help="JSON zenoh config of the second decision path (QUIC to the cloud)")
    p.add_argument("--out", type=Path, required=True, help="summary JSON")
    p.add_argument("--rate", type=float, default=1.0)
    p.add_argument("--model-store", help="run the full pipeline with this model store (default: radar-only)")
    p.add_argument("--ready-file", type=Path)
    p.add_argument("--start-file", type=Path)
    p.add_argument("--cloud-wait", type=float, default=60.0)
    p.add_argument("--drain", type=float, default=20.0, help="max seconds to wait for the last acks")
    p.add_argument("--resend-after", type=float, default=0.5, help="resend an unacked decision after this, s")
    args = p.parse_args(argv)
    try:
        summary = run_vehicle(args)
    except (TimeoutError, RuntimeError, OSError) as exc:
        args.out.write_text(json.dumps({"vehicle": args.vehicle, "error": str(exc)}), encoding="utf-8")
        print(f"vehicle {args.vehicle}: {exc}", file=sys.stderr)
        return 2
    args.out.write_text(json.dumps(summary), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
