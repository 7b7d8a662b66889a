"""A wide-area network between test hosts: TUN devices joined by a userspace link emulator.

Why not veth + `tc netem`: the kernels these tests run on may lack `sch_netem` (this one answers
"Specified qdisc kind is unknown"), and without it nothing in the kernel delays or randomly drops
packets. So each host namespace gets a TUN device (`10.77.0.N/24`, point-to-point into the WAN),
and this process, running in its own namespace, reads every IP packet the hosts send, applies the
sending and the receiving host's link (delay, random loss, rate limit with a bounded queue,
up/down) and writes it into the destination host's TUN device. Hosts run real kernel TCP/TLS
stacks; only the wire is emulated, packet by packet, as netem would.

A packet from A to B is dropped when either link is down, with A's loss and then B's loss, and
otherwise leaves A's rate limiter (serialisation at `rate_kbit`, tail drop past `queue_ms` of
backlog) and arrives `delay_ms(A) + delay_ms(B)` later. Give the cloud delay 0 and every vehicle
its uplink's delay to get vehicle<->cloud one-way delay = that value.

Run as `python -m edge_llm_ros.fleet.wan SPEC.json` (from `Wan`); commands arrive on stdin as
JSON lines (`set`, `stats`, `quit`), each answered by one JSON line on stdout.
"""

from __future__ import annotations

import fcntl
import heapq
import json
import os
import random
import select
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_llm_ros.fleet.netns import ip

_TUNSETIFF = 0x400454CA
_IFF_TUN = 0x0001
_IFF_NO_PI = 0x1000
#: Test subnet: exists only on the TUN devices inside the test namespaces, never on the host.
SUBNET_PREFIX = "10.77.0."


@dataclass
class LinkParams:
    """One host's access link into the WAN (applied on both directions)."""

    delay_ms: float = 0.0
    loss: float = 0.0  # 0..1, per packet
    rate_kbit: float = 0.0  # 0 = unlimited
    queue_ms: float = 500.0  # tail drop beyond this much backlog at `rate_kbit`
    up: bool = True


@dataclass
class HostSpec:
    """A host of the WAN: its namespace, address and link."""

    name: str
    netns: str
    address: str
    link: LinkParams = field(default_factory=LinkParams)


@dataclass
class _Counters:
    tx_packets: int = 0
    tx_bytes: int = 0
    rx_packets: int = 0
    rx_bytes: int = 0
    dropped_loss: int = 0
    dropped_down: int = 0
    dropped_queue: int = 0
    tx_udp_bytes: int = 0  # of tx_bytes: UDP (QUIC) rather than TCP
    late_5ms: int = 0  # packets this emulator delivered > 5 ms after due (CPU contention)
    late_max_ms: float = 0.0


def _open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(), _IFF_TUN | _IFF_NO_PI))
    return fd


class Emulator:
    """The packet loop (runs in the WAN process)."""

    def __init__(self, hosts: Sequence[HostSpec], token: str, seed: int = 0) -> None:
        self.hosts = {h.name: h for h in hosts}
        self.rng = random.Random(seed)
        self.fds: dict[str, int] = {}
        self.by_addr: dict[bytes, str] = {}
        self.counters = {h.name: _Counters() for h in hosts}
        self._tx_free = {h.name: 0.0 for h in hosts}
        self._queue: list[tuple[float, int, str, bytes]] = []
        self._seq = 0
        for index, host in enumerate(hosts):
            dev = f"elr{token}t{index}"
            # Created here (the WAN namespace), then moved: the fd stays attached to the device.
            self.fds[host.name] = _open_tun(dev)
            ip("link", "set", "dev", dev, "netns", host.netns)
            ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", dev)
            ip("-n", host.netns, "link", "set", "dev", dev, "up")
            self.by_addr[bytes(int(p) for p in host.address.split("."))] = host.name
        self._fd_host = {fd: name for name, fd in self.fds.items()}

    def set_link(self, host: str, values: Mapping[str, Any]) -> None:
        """Change a host's link parameters (unknown keys raise)."""
        link = self.hosts[host].link
        for key, value in values.items():
            if not hasattr(link, key):
                raise KeyError(f"unknown link parameter {key!r}")
            setattr(link, key, type(getattr(link, key))(value))

    def _route(self, src: str, packet: bytes, now: float) -> None:
        counters = self.counters[src]
        counters.tx_packets += 1
        counters.tx_bytes += len(packet)
        if len(packet) < 20 or packet[0] >> 4 != 4:
            return  # only IPv4 crosses this WAN
        if packet[9] == 17:
            counters.tx_udp_bytes += len(packet)
        dst = self.by_addr.get(packet[16:20])
        if dst is None or dst == src:
            return
        a, b = self.hosts[src].link, self.hosts[dst].link
        if not (a.up and b.up):
            counters.dropped_down += 1
            return
        if (a.loss and self.rng.random() < a.loss) or (b.loss and self.rng.random() < b.loss):
            counters.dropped_loss += 1
            return
        leave = now
        if a.rate_kbit > 0:
            start = max(now, self._tx_free[src])
            if start - now > a.queue_ms / 1000.0:
                counters.dropped_queue += 1
                return
            leave = start + len(packet) * 8 / (a.rate_kbit * 1000.0)
            self._tx_free[src] = leave
        due = leave + (a.delay_ms + b.delay_ms) / 1000.0
        self._seq += 1
        heapq.heappush(self._queue, (due, self._seq, dst, packet))

    def _deliver(self, now: float) -> None:
        while self._queue and self._queue[0][0] <= now:
            due, _, dst, packet = heapq.heappop(self._queue)
            try:
                os.write(self.fds[dst], packet)
            except OSError:
                continue  # device gone or full: the packet is lost, as on a wire
            counters = self.counters[dst]
            counters.rx_packets += 1
            counters.rx_bytes += len(packet)
            late_ms = (now - due) * 1000.0
            counters.late_max_ms = max(counters.late_max_ms, late_ms)
            if late_ms > 5.0:
                counters.late_5ms += 1

    def stats(self) -> dict[str, Any]:
        """Per-host counters and link settings."""
        return {name: {**asdict(self.counters[name]), "link": asdict(self.hosts[name].link)} for name in self.hosts}

    def serve(self, control_in: int, control_out: Any) -> None:
        """Forward packets and answer commands until `quit` or EOF on the control input."""
        watched = [*self.fds.values(), control_in]
        pending = b""
        while True:
            now = time.monotonic()
            timeout = max(0.0, self._queue[0][0] - now) if self._queue else 0.5
            readable, _, _ = select.select(watched, [], [], timeout)
            now = time.monotonic()
            for fd in readable:
                if fd == control_in:
                    chunk = os.read(control_in, 65536)
                    if not chunk:
                        return
                    pending += chunk
                    while b"\n" in pending:
                        line, pending = pending.split(b"\n", 1)
                        if self._command(line, control_out):
                            return
                    continue
                src = self._fd_host[fd]
                for _ in range(64):  # drain a burst without starving the other hosts
                    try:
                        packet = os.read(fd, 65536)
                    except BlockingIOError:
                        break
                    self._route(src, packet, now)
            self._deliver(time.monotonic())

    def _command(self, line: bytes, out: Any) -> bool:
        try:
            cmd = json.loads(line)
            op = cmd.get("cmd")
            if op == "set":
                self.set_link(cmd["host"], {k: v for k, v in cmd.items() if k not in ("cmd", "host")})
                reply: dict[str, Any] = {"ok": True}
            elif op == "stats":
                reply = {"ok": True, "stats": self.stats()}
            elif op == "quit":
                out.write(json.dumps({"ok": True}) + "\n")
                out.flush()
                return True
            else:
                reply = {"ok": False, "error": f"unknown command {op!r}"}
        except (ValueError, KeyError, TypeError) as exc:
            reply = {"ok": False, "error": str(exc)}
        out.write(json.dumps(reply) + "\n")
        out.flush()
        return False

    def close(self) -> None:
        """Close every TUN fd (their devices vanish with their namespaces)."""
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


def main(argv: Sequence[str]) -> int:
    """Entry point of the WAN process: `python -m edge_llm_ros.fleet.wan SPEC.json`."""
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    hosts = [HostSpec(h["name"], h["netns"], h["address"], LinkParams(**h.get("link", {}))) for h in spec["hosts"]]
    try:
        emulator = Emulator(hosts, spec["token"], int(spec.get("seed", 0)))
    except Exception as exc:
        print(json.dumps({"ready": False, "error": str(exc)}), flush=True)
        return 2
    try:
        print(json.dumps({"ready": True}), flush=True)
        emulator.serve(sys.stdin.fileno(), sys.stdout)
    finally:
        emulator.close()
    return 0


class Wan:
    """Starts and controls the WAN process (in the namespace `netns`); `close()` is bounded."""

    def __init__(
        self,
        exec_argv: Sequence[str],
        hosts: Sequence[HostSpec],
        token: str,
        spec_path: Path,
        seed: int = 0,
        env: Mapping[str, str] | None = None,
        startup_timeout_s: float = 15.0,
    ) -> None:
        spec = {"token": token, "seed": seed, "hosts": [asdict(h) for h in hosts]}
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        # netem runs in the kernel's softirq; a userspace emulator on a busy machine is late
        # unless it preempts other work: real-time FIFO priority (it sleeps in select, never spins).
        # `late_5ms`/`late_max_ms` in the stats show how well that worked.
        realtime = ["chrt", "-f", "20"] if shutil.which("chrt") and os.geteuid() == 0 else []
        self.proc = subprocess.Popen(
            [*exec_argv, *realtime, sys.executable, "-m", "edge_llm_ros.fleet.wan", str(spec_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(env) if env is not None else None,
        )
        try:
            ready = self._read(startup_timeout_s)
            if not ready.get("ready"):
                raise RuntimeError(f"WAN emulator did not start: {ready.get('error')}")
        except BaseException:
            self.close()
            raise

    def _read(self, timeout_s: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        line = self.proc.stdout.readline() if readable else ""
        if not line:
            raise RuntimeError(f"WAN emulator gave no answer within {timeout_s} s (exit {self.proc.poll()})")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def command(self, cmd: Mapping[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
        """Send one command, return its answer (raises RuntimeError on an error answer)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(dict(cmd)) + "\n")
        self.proc.stdin.flush()
        reply = self._read(timeout_s)
        if not reply.get("ok"):
            raise RuntimeError(f"WAN command {cmd} failed: {reply.get('error')}")
        return reply

    def set_link(self, host: str, **values: Any) -> None:
        """Change one host's link (delay_ms, loss, rate_kbit, queue_ms, up)."""
        self.command({"cmd": "set", "host": host, **values})

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per-host packet and byte counters."""
        stats: dict[str, dict[str, Any]] = self.command({"cmd": "stats"})["stats"]
        return stats

    def close(self) -> None:
        """Stop the emulator (quit, then terminate, then kill; bounded)."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(3.0)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.proc.terminate()
                try:
                    self.proc.wait(3.0)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(3.0)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
