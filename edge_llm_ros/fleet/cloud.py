"""The cloud host's subscriber: every vehicle's uplink through the cloud router, acks, operator requests.

    python -m edge_llm_ros.fleet.cloud --zenoh client.json --records received.jsonl

It subscribes only to the uplink streams (zenoh routes on interest, so nothing else, and no raw
sensor stream, crosses any uplink unless an operator asks for it), keeps the first copy of every
sequenced message (`SequenceTracker`), acknowledges the contiguous prefix per vehicle and stream
every 50 ms, and holds a liveliness token the vehicles watch to know when to flush their buffers.
Each first arrival is appended to `--records` as JSON (vehicle, stream, seq, sent_ns, recv_ns,
bytes). Commands on stdin (JSON lines): `request` (an operator request to a vehicle), `stats`,
`quit`; one JSON answer line each on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import zenoh

from edge_llm_ros.fleet.links import (
    CLOUD_ALIVE_KEY,
    STREAM_BY_NAME,
    STREAMS,
    ack_key,
    ops_key,
    stream_key,
    stream_of_key,
    stream_pattern,
    to_zenoh_config,
)
from edge_llm_ros.fleet.store_forward import SequenceTracker
from edge_llm_ros.transport.zenoh_attachment import AttachmentError, parse_attachment

#: Streams the cloud always subscribes to (raw camera only on request).
SUBSCRIBED = tuple(s for s in STREAMS if s.name != "raw_camera")


class CloudSubscriber:
    """Receives, deduplicates, records and acknowledges."""

    def __init__(self, zenoh_values: dict[str, Any], records: TextIO) -> None:
        self._records = records
        self._lock = threading.Lock()
        self.trackers: dict[tuple[str, str], SequenceTracker] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self._dirty: set[str] = set()
        self._stop = threading.Event()
        self.session = zenoh.open(to_zenoh_config(zenoh_values))
        self._declared: list[Any] = []
        try:
            self._declared.append(self.session.liveliness().declare_token(CLOUD_ALIVE_KEY))
            for stream in SUBSCRIBED:
                self._declared.append(self.session.declare_subscriber(stream_pattern(stream), self._on_sample))
            self._acker = threading.Thread(target=self._ack_loop, name="cloud-acks", daemon=True)
            self._acker.start()
        except BaseException:
            self.close()
            raise

    def _bump(self, vehicle: str, key: str, n: int = 1) -> None:
        per = self.counts.setdefault(vehicle, {})
        per[key] = per.get(key, 0) + n

    def _on_sample(self, sample: zenoh.Sample) -> None:
        recv_ns = time.time_ns()
        vehicle, stream = stream_of_key(str(sample.key_expr))
        payload = sample.payload.to_bytes()
        try:
            attachment = parse_attachment(sample.attachment.to_bytes() if sample.attachment is not None else None)
        except AttachmentError:
            with self._lock:
                self._bump(vehicle, "bad_attachment")
            return
        name = stream.name if stream is not None else "other"
        with self._lock:
            self._bump(vehicle, f"{name}_samples")
            self._bump(vehicle, f"{name}_bytes", len(payload))
            if stream is not None and stream.reliable:
                tracker = self.trackers.setdefault((vehicle, name), SequenceTracker())
                if not tracker.accept(attachment.sequence_number):
                    self._bump(vehicle, f"{name}_duplicates")
                    return
                self._dirty.add(vehicle)
            record = {
                "v": vehicle,
                "s": name,
                "seq": attachment.sequence_number,
                "sent_ns": attachment.source_timestamp_ns,
                "recv_ns": recv_ns,
                "bytes": len(payload),
            }
            self._records.write(json.dumps(record) + "\n")

    def _ack_loop(self) -> None:
        while not self._stop.wait(0.05):
            with self._lock:
                dirty, self._dirty = self._dirty, set()
                acks = {v: {s: t.contiguous for (tv, s), t in self.trackers.items() if tv == v} for v in dirty}
                self._records.flush()
            for vehicle, per_stream in acks.items():
                try:
                    self.session.put(ack_key(vehicle), json.dumps(per_stream).encode(), priority=zenoh.Priority.DATA)
                except zenoh.ZError:
                    with self._lock:
                        self._dirty.add(vehicle)

    def request(self, vehicle: str, op: str, parameters: str = "", timeout_s: float = 5.0) -> list[dict[str, Any]]:
        """An operator request to one vehicle; its replies (ok, size, text when JSON)."""
        if op == "raw":  # the cloud only pulls raw frames while it asked for them
            self._declared.append(
                self.session.declare_subscriber(stream_key(vehicle, STREAM_BY_NAME["raw_camera"]), self._on_sample)
            )
        selector = ops_key(vehicle, op) + (f"?{parameters}" if parameters else "")
        out: list[dict[str, Any]] = []
        for reply in self.session.get(selector, timeout=timeout_s):
            if reply.ok is not None:
                data = reply.ok.payload.to_bytes()
                try:
                    text: Any = json.loads(data)
                except (ValueError, UnicodeDecodeError):
                    text = None
                out.append({"ok": True, "bytes": len(data), "json": text})
            else:
                out.append({"ok": False, "error": reply.err.payload.to_bytes().decode(errors="replace")})
        return out

    def stats(self) -> dict[str, Any]:
        """Per vehicle: sample/byte/duplicate counts and the contiguous sequence per reliable stream."""
        with self._lock:
            return {
                "counts": {v: dict(c) for v, c in self.counts.items()},
                "contiguous": {f"{v}/{s}": t.contiguous for (v, s), t in self.trackers.items()},
            }

    def close(self) -> None:
        """Stop acking, undeclare, close the session (always)."""
        self._stop.set()
        acker = getattr(self, "_acker", None)
        if acker is not None:
            acker.join(2.0)
        for item in reversed(self._declared):
            with contextlib.suppress(zenoh.ZError):
                item.undeclare()
        self._declared.clear()
        self.session.close()
        with self._lock:
            self._records.flush()


def _answer(cloud: CloudSubscriber, line: str) -> tuple[dict[str, Any], bool]:
    try:
        cmd = json.loads(line)
        op = cmd.get("cmd")
        if op == "request":
            replies = cloud.request(cmd["vehicle"], cmd["op"], cmd.get("parameters", ""), float(cmd.get("timeout", 5)))
            return {"ok": True, "replies": replies}, False
        if op == "stats":
            return {"ok": True, "stats": cloud.stats()}, False
        if op == "quit":
            return {"ok": True}, True
        return {"ok": False, "error": f"unknown command {op!r}"}, False
    except (ValueError, KeyError, TypeError, zenoh.ZError) as exc:
        return {"ok": False, "error": str(exc)}, False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the cloud subscriber process."""
    p = argparse.ArgumentParser(prog="python -m edge_llm_ros.fleet.cloud")
    p.add_argument("--zenoh", required=True, help="JSON {zenoh config path: value} of the client session")
    p.add_argument("--records", type=Path, required=True, help="JSON lines, one per first arrival")
    args = p.parse_args(argv)
    with args.records.open("a", encoding="utf-8") as records:
        try:
            cloud = CloudSubscriber(json.loads(Path(args.zenoh).read_text(encoding="utf-8")), records)
        except zenoh.ZError as exc:
            print(json.dumps({"ready": False, "error": str(exc)}), flush=True)
            return 2
        try:
            print(json.dumps({"ready": True}), flush=True)
            for line in sys.stdin:
                answer, done = _answer(cloud, line)
                print(json.dumps(answer), flush=True)
                if done:
                    break
        finally:
            cloud.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
