"""A second process for the zenoh tests and the latency benchmark (run as a script).

usage: zenoh_child.py MODE HUB DOMAIN [ARGS]

  echo      republish every /ping sample's payload on /pong; serve /child/add (AddTwoInts-like)
  publish N publish N std_msgs/String 'msg <i>' on /chatter once a subscriber is matched
  victim    hold a node /proc/victim alive until killed
  idle      just hold a session (and so, if first, the hub)

Prints 'READY <zid> <is_hub>' once set up. Exits when stdin closes or after --lifetime seconds,
so a crashed parent never leaves it behind.
"""

from __future__ import annotations

import argparse
import struct
import sys
import threading
import time

from edge_llm_ros.transport.qos import QoSProfile
from edge_llm_ros.transport.zenoh_bus import ZenohBus

STRING = "std_msgs/msg/String"


def _stdin_closed() -> threading.Event:
    closed = threading.Event()

    def watch() -> None:
        sys.stdin.read()
        closed.set()

    threading.Thread(target=watch, daemon=True).start()
    return closed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["echo", "publish", "victim", "idle"])
    parser.add_argument("hub")
    parser.add_argument("domain", type=int)
    parser.add_argument("count", type=int, nargs="?", default=0)
    parser.add_argument("--lifetime", type=float, default=60.0)
    parser.add_argument("--typename", default=STRING)
    args = parser.parse_args()

    bus = ZenohBus({"hub": args.hub, "domain_id": args.domain}, env={})
    try:
        done = _stdin_closed()
        if args.mode == "echo":
            node = bus.create_node("echo", "/child")
            pong = node.create_publisher("/pong", args.typename, QoSProfile(depth=100))
            ping = node.create_subscription("/ping", args.typename, QoSProfile(depth=100))

            def add(request: bytes) -> bytes:
                # CDR header + two int64 -> CDR header + their sum.
                a, b = struct.unpack_from("<qq", request, 4)
                return request[:4] + struct.pack("<q", a + b)

            node.create_service("/child/add", "example_interfaces/srv/AddTwoInts", add)
        elif args.mode == "publish":
            node = bus.create_node("talker", "/child")
            pub = node.create_publisher("/chatter", STRING, QoSProfile(depth=100))
        elif args.mode == "victim":
            bus.create_node("victim", "/proc")
        print(f"READY {bus.zid} {bus.is_hub}", flush=True)
        if args.mode == "publish":
            deadline = time.monotonic() + args.lifetime
            while not pub.has_subscribers and time.monotonic() < deadline:  # type: ignore[attr-defined]
                time.sleep(0.005)
            # A matched subscriber in another session needs a moment to be routable end to end.
            time.sleep(0.05)
            msg_class = bus.codec.msg_class(STRING)
            for i in range(args.count):
                pub.publish(msg_class(data=f"msg {i}"))
            print("SENT", flush=True)
        if args.mode == "echo":
            deadline = time.monotonic() + args.lifetime
            while not done.is_set() and time.monotonic() < deadline:
                sample = ping.take(0.1)
                if sample is not None:
                    pong.publish_raw(sample.data)
        else:
            done.wait(args.lifetime)
    finally:
        bus.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
