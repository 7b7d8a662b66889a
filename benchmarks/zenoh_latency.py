"""Zenoh transport latency for a 1 MB sensor_msgs/Image between two processes on loopback.

The parent publishes /bench/ping (a pre-serialised Image, CDR) and waits for the child to echo
it back on /bench/pong; the child takes each sample from its keep-last queue like an executor
would and republishes the same bytes. One sample is in flight at a time. Reported:

  * rtt:      parent publish -> child take -> child publish -> parent take (perf_counter);
  * one_way:  child's source timestamp -> parent's receive callback (the attachment stamp,
              same host clock), i.e. one 1 MB hop including zenoh's copy into Python bytes.

Both processes use the adapter's defaults except for a private hub port and domain id, so the
run never meets anyone else's sessions. Numbers, not assertions.

    python benchmarks/zenoh_latency.py --samples 500 --warmup 50 --json /tmp/zenoh_latency.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_llm_ros.msgs.codec import get_codec
from edge_llm_ros.transport.qos import QoSProfile
from edge_llm_ros.transport.zenoh_bus import ZenohBus

IMAGE = "sensor_msgs/msg/Image"
QOS = QoSProfile(depth=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _image_bytes(width: int, height: int, encoding: str, channels: int) -> bytes:
    codec = get_codec()
    cls = codec.msg_class(IMAGE)
    header = codec.msg_class("std_msgs/msg/Header")(
        stamp=codec.msg_class("builtin_interfaces/msg/Time")(sec=0, nanosec=0), frame_id="camera"
    )
    import numpy as np

    data = np.random.default_rng(0).integers(0, 255, width * height * channels, dtype=np.uint8)
    msg = cls(
        header=header,
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=width * channels,
        data=data,
    )
    return codec.serialize(msg, IMAGE)


def run_echo(config: dict[str, Any], lifetime: float) -> int:
    """Child: echo /bench/ping onto /bench/pong until stdin closes or `lifetime` passes."""
    bus = ZenohBus(config, env={})
    try:
        node = bus.create_node("echo", "/bench")
        pong = node.create_publisher("/bench/pong", IMAGE, QOS)
        ping = node.create_subscription("/bench/ping", IMAGE, QOS)
        print("READY", flush=True)
        deadline = time.monotonic() + lifetime
        while time.monotonic() < deadline:
            sample = ping.take(0.5)
            if sample is not None:
                if sample.data == b"STOP":
                    break
                pong.publish_raw(sample.data)
    finally:
        bus.close()
    return 0


def _stats(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return {
        "p50": pct(50),
        "p90": pct(90),
        "p99": pct(99),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
        "min": ordered[0],
    }


def run_parent(args: argparse.Namespace) -> dict[str, Any]:
    config = {"hub": f"tcp/127.0.0.1:{_free_port()}", "domain_id": random.randint(100, 232)}
    payload = _image_bytes(args.width, args.height, args.encoding, args.channels)
    bus = ZenohBus(config, env={})
    proc = subprocess.Popen(
        [sys.executable, __file__, "--echo", json.dumps(config), "--lifetime", str(args.lifetime)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        node = bus.create_node("pinger", "/bench")
        ping = node.create_publisher("/bench/ping", IMAGE, QOS)
        pong = node.create_subscription("/bench/pong", IMAGE, QOS)
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "READY":
            raise RuntimeError("echo process failed to start")
        # Routes between the sessions: ping until the first echo comes back.
        deadline = time.monotonic() + 20
        while pong.take(0.05) is None:
            if time.monotonic() > deadline:
                raise RuntimeError("no echo within 20 s")
            ping.publish_raw(payload)
        while pong.take(0.2) is not None:
            pass

        rtt: list[float] = []
        one_way: list[float] = []
        lost = 0
        for i in range(args.warmup + args.samples):
            start = time.perf_counter_ns()
            ping.publish_raw(payload)
            sample = pong.take(args.timeout)
            end = time.perf_counter_ns()
            if sample is None:
                lost += 1
                continue
            if i >= args.warmup:
                rtt.append((end - start) / 1e6)
                one_way.append((sample.info.received_timestamp_ns - sample.info.source_timestamp_ns) / 1e6)
            if args.interval > 0:
                time.sleep(args.interval)
        ping.publish_raw(b"STOP")
    finally:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        bus.close()

    return {
        "payload_bytes": len(payload),
        "message": f"{IMAGE} {args.width}x{args.height} {args.encoding}",
        "samples": len(rtt),
        "warmup": args.warmup,
        "lost": lost,
        "rtt_ms": _stats(rtt),
        "one_way_ms": _stats(one_way),
        "eclipse_zenoh": version("eclipse-zenoh"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--encoding", default="mono8")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between pings (0: back to back)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for each echo")
    parser.add_argument("--lifetime", type=float, default=600.0, help="echo process gives up after this")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--echo", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo:
        return run_echo(json.loads(args.echo), args.lifetime)

    result = run_parent(args)
    print(f"{result['message']}: {result['payload_bytes']} B, {result['samples']} samples, {result['lost']} lost")
    for name in ("rtt_ms", "one_way_ms"):
        s = result[name]
        print(
            f"  {name:<11} p50 {s['p50']:7.3f}  p90 {s['p90']:7.3f}  p99 {s['p99']:7.3f}"
            f"  max {s['max']:7.3f}  mean {s['mean']:7.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
