"""The vehicle's uplink agent: takes the pipeline's results off its bus and sends what matters.

- decisions and advisories: sequenced, kept in a store-and-forward buffer until the cloud acks
  them, resent when the cloud is reachable again (its liveliness token comes back) or after a
  timeout (see store_forward.py);
- detections and diagnostics: latest-wins, rate-limited by the vehicle router (summarised: after
  a cut the cloud gets the current state, not the backlog);
- a downsampled JPEG of the camera frame when the decision turns to BRAKE (and at most once a
  second while it stays BRAKE);
- raw camera frames never, unless an operator asks (`fleet/<vehicle>/ops/raw?seconds=N`);
- operator requests on `fleet/<vehicle>/ops/{status,snapshot,raw}` answered from here.

Samples come from the bus on the publishing thread (inproc: the pipeline's own thread), so the
callbacks only buffer and hand to zenoh (non-blocking, congestion control DROP: the buffer, not
the socket, is what holds data through a cut); JPEG encoding and resends run on a worker thread.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
import zenoh

from edge_llm_ros.fleet.links import (
    CLOUD_ALIVE_KEY,
    COMPRESSED_IMAGE,
    STREAM_BY_NAME,
    STREAMS,
    Stream,
    ack_key,
    ops_key,
    stream_key,
    to_zenoh_config,
)
from edge_llm_ros.fleet.store_forward import Entry, StoreAndForward
from edge_llm_ros.msgs.codec import get_codec
from edge_llm_ros.nodes import topics
from edge_llm_ros.transport.bus import Bus, Subscription, new_gid
from edge_llm_ros.transport.qos import PIPELINE, SENSOR_DATA
from edge_llm_ros.transport.zenoh_attachment import pack_attachment

_log = logging.getLogger(__name__)
_PRIORITY = {
    "real_time": zenoh.Priority.REAL_TIME,
    "interactive_high": zenoh.Priority.INTERACTIVE_HIGH,
    "data_high": zenoh.Priority.DATA_HIGH,
    "data": zenoh.Priority.DATA,
    "data_low": zenoh.Priority.DATA_LOW,
    "background": zenoh.Priority.BACKGROUND,
}
#: Backlog messages per stream sent but not yet acknowledged during a flush (~34 kB of decisions),
#: and resends per stream per 50 ms tick.
_WINDOW = 20
_SOURCES = {  # stream -> (pipeline topic, type)
    "decision": (topics.DECISION_TOPIC, topics.STRING),
    "advisory": (topics.ADVISORY_TOPIC, topics.STRING),
    "detections": (topics.DETECTIONS_TOPIC, topics.DETECTIONS),
    "diagnostics": (topics.DIAGNOSTICS_TOPIC, topics.DIAGNOSTICS),
}


def jpeg_snapshot(image_cdr: bytes, width: int = 320, quality: int = 70) -> bytes:
    """A sensor_msgs/Image (CDR) as a downsampled sensor_msgs/CompressedImage (CDR, JPEG)."""
    codec = get_codec()
    msg = codec.deserialize(image_cdr, topics.IMAGE)
    channels = 3 if msg.encoding in ("bgr8", "rgb8") else 1
    pixels = np.asarray(msg.data, dtype=np.uint8).reshape(msg.height, msg.width, channels)
    if msg.encoding == "rgb8":
        pixels = pixels[:, :, ::-1]
    height = max(1, round(msg.height * width / msg.width))
    small = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    out = codec.msg_class(COMPRESSED_IMAGE)(header=msg.header, format="jpeg", data=jpeg.reshape(-1))
    return codec.serialize(out, COMPRESSED_IMAGE)


class UplinkAgent:
    """One vehicle's uplink over its local zenoh router."""

    def __init__(
        self,
        vehicle: str,
        bus: Bus,
        zenoh_values: Mapping[str, Any],
        camera_topic: str = "/camera/image_raw",
        resend_after_s: float = 1.0,
        capacity: int = 10_000,
        fast_values: Mapping[str, Any] | None = None,
    ) -> None:
        self.vehicle = vehicle
        self.codec = get_codec()
        self.gid = new_gid()
        self.buffers = {s.name: StoreAndForward(capacity, resend_after_s) for s in STREAMS if s.reliable}
        self.counters: dict[str, int] = {}
        self.bytes_put: dict[str, int] = {}
        #: (seq, frame stamp ns, action, publish ns) of every decision, in order.
        self.decisions: list[tuple[int, int, str, int]] = []
        self.cloud_alive = threading.Event()
        self._flush = threading.Event()
        self._stop = threading.Event()
        self._snapshot_due = threading.Event()
        self._lock = threading.Lock()
        self._latest_image: bytes | None = None
        self._raw_until = 0.0
        self._last_action = ""
        self._last_snapshot = 0.0
        self._session = zenoh.open(to_zenoh_config(zenoh_values))
        self._fast_session: zenoh.Session | None = None
        self._closers: list[Any] = []
        try:
            self._publishers = {
                s.name: self._session.declare_publisher(
                    stream_key(vehicle, s),
                    priority=_PRIORITY[s.priority],
                    congestion_control=zenoh.CongestionControl.DROP,
                    express=s.reliable,
                    reliability=zenoh.Reliability.RELIABLE if s.reliable else zenoh.Reliability.BEST_EFFORT,
                )
                for s in STREAMS
            }
            # With `fast_values`, every decision also goes once over a second path (a QUIC client
            # session straight to the cloud router, see links.fast_client_config); the cloud
            # keeps the first copy. Without, decisions take the router uplink only.
            self._fast: zenoh.Publisher | None = None
            if fast_values:
                decision = STREAM_BY_NAME["decision"]
                self._fast_session = zenoh.open(to_zenoh_config(fast_values))
                self._fast = self._fast_session.declare_publisher(
                    stream_key(vehicle, decision),
                    priority=_PRIORITY[decision.priority],
                    congestion_control=zenoh.CongestionControl.DROP,
                    express=True,
                    reliability=zenoh.Reliability.BEST_EFFORT,
                )
            self._closers += [*self._publishers.values(), *([self._fast] if self._fast else [])]
            self._closers.append(self._session.declare_subscriber(ack_key(vehicle), self._on_ack))
            self._closers.append(
                self._session.liveliness().declare_subscriber(CLOUD_ALIVE_KEY, self._on_cloud, history=True)
            )
            self._closers.append(self._session.declare_queryable(ops_key(vehicle), self._on_query))
            self._node = bus.create_node(f"uplink_{vehicle}")
            self._subs: list[Subscription] = []
            for name, (topic, typename) in _SOURCES.items():
                self._subscribe(topic, typename, functools.partial(self._on_result, STREAM_BY_NAME[name]))
            self._subscribe(camera_topic, topics.IMAGE, self._on_image, sensor=True)
            self._worker = threading.Thread(target=self._work, name=f"uplink-{vehicle}", daemon=True)
            self._worker.start()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ inputs
    def _subscribe(self, topic: str, typename: str, handler: Any, sensor: bool = False) -> None:
        holder: list[Subscription] = []

        def ready() -> None:
            while holder and (sample := holder[0].take(0.0)) is not None:
                handler(sample.data)

        holder.append(self._node.create_subscription(topic, typename, SENSOR_DATA if sensor else PIPELINE, ready))
        self._subs.append(holder[0])

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counters[key] = self.counters.get(key, 0) + n

    def _on_result(self, stream: Stream, data: bytes) -> None:
        now_ns = time.time_ns()
        if not stream.reliable:
            self._put(stream, data, 0, now_ns)
            return
        entry = self.buffers[stream.name].add(bytes(data), now_ns)
        if stream.name == "decision":
            self._note_decision(entry)
        if self.cloud_alive.is_set():
            self._send(stream, entry)

    def _note_decision(self, entry: Entry) -> None:
        try:
            record = json.loads(self.codec.deserialize(entry.payload, topics.STRING).data)
            stamp, action = int(record["stamp_ns"]), str(record["action"])
        except (ValueError, KeyError, TypeError):
            stamp, action = 0, "?"
        with self._lock:
            self.decisions.append((entry.seq, stamp, action, entry.stamp_ns))
            turned = action == "BRAKE" and self._last_action != "BRAKE"
            self._last_action = action
        if turned or (action == "BRAKE" and time.monotonic() - self._last_snapshot >= 1.0):
            self._snapshot_due.set()

    def _on_image(self, data: bytes) -> None:
        self._latest_image = bytes(data)
        if time.monotonic() < self._raw_until:
            self._put(STREAM_BY_NAME["raw_camera"], self._latest_image, 0, time.time_ns())

    # ------------------------------------------------------------------ outputs
    def _put(self, stream: Stream, payload: bytes, seq: int, stamp_ns: int) -> None:
        try:
            self._publishers[stream.name].put(payload, attachment=pack_attachment(seq, stamp_ns, self.gid))
        except zenoh.ZError:
            self._count(f"{stream.name}_put_errors")
            return
        self._count(f"{stream.name}_sent")
        with self._lock:
            self.bytes_put[stream.name] = self.bytes_put.get(stream.name, 0) + len(payload)

    def _send(self, stream: Stream, entry: Entry) -> None:
        if entry.sends:
            self._count(f"{stream.name}_resent")
        elif stream.name == "decision" and self._fast is not None:
            try:
                self._fast.put(entry.payload, attachment=pack_attachment(entry.seq, entry.stamp_ns, self.gid))
                self._count("decision_fast_sent")
            except zenoh.ZError:
                self._count("decision_fast_errors")
        self.buffers[stream.name].mark_sent(entry, time.monotonic())
        self._put(stream, entry.payload, entry.seq, entry.stamp_ns)

    def _on_ack(self, sample: zenoh.Sample) -> None:
        try:
            acks = json.loads(sample.payload.to_bytes())
            for name, upto in acks.items():
                if name in self.buffers:
                    self.buffers[name].ack(int(upto))
        except (ValueError, TypeError, AttributeError):
            self._count("bad_acks")

    def _on_cloud(self, sample: zenoh.Sample) -> None:
        if sample.kind == zenoh.SampleKind.PUT:
            self.cloud_alive.set()
            self._flush.set()  # the cloud is back: send every unacknowledged message now
            self._count("cloud_up")
        else:
            self.cloud_alive.clear()
            self._count("cloud_down")

    def _on_query(self, query: zenoh.Query) -> None:
        op = str(query.key_expr).rsplit("/", 1)[-1]
        try:
            if op == "status":
                payload = json.dumps(self.stats()).encode()
            elif op == "snapshot":
                image = self._latest_image
                payload = jpeg_snapshot(image) if image is not None else b""
            elif op == "raw":
                seconds = float(query.parameters.get("seconds", "5") or "5")
                self._raw_until = time.monotonic() + min(max(seconds, 0.0), 60.0)
                payload = json.dumps({"raw_camera_s": seconds}).encode()
            else:
                query.reply_err(f"unknown operation {op!r}".encode())
                return
            self._count(f"ops_{op}")
            query.reply(query.key_expr, payload)
        except (ValueError, zenoh.ZError) as exc:
            query.reply_err(str(exc).encode())

    def _has_route(self) -> bool:
        status: Any = self._publishers["decision"].matching_status
        # zenoh 1.x returns MatchingStatus(matching=...); its type stubs say bool.
        return bool(getattr(status, "matching", status))

    def _work(self) -> None:
        while not self._stop.wait(0.05):
            # After a cut, flush only once the route to the cloud's subscriber is back (its
            # liveliness token can arrive before its subscription): a flush into no route is lost.
            # The backlog goes out paced by the cloud's acks (at most _WINDOW per stream sent and
            # unacknowledged), so it never outruns the uplink into zenoh's dropping queue.
            if self.cloud_alive.is_set():
                if self._flush.is_set() and self._has_route():
                    self._flush.clear()
                    for buffer in self.buffers.values():
                        buffer.start_flush()
                for name, buffer in self.buffers.items():
                    now = time.monotonic()
                    if buffer.flushing():  # lost in flight: resent by backoff, so the window moves
                        batch = buffer.due(now, _WINDOW, flushed_only=True) + buffer.flush_batch(_WINDOW)
                    else:
                        batch = buffer.due(now, _WINDOW)
                    for entry in batch:
                        self._send(STREAM_BY_NAME[name], entry)
            if self._snapshot_due.is_set() and self._latest_image is not None:
                self._snapshot_due.clear()
                self._last_snapshot = time.monotonic()
                try:
                    self._put(STREAM_BY_NAME["snapshot"], jpeg_snapshot(self._latest_image), 0, time.time_ns())
                except (ValueError, cv2.error):
                    self._count("snapshot_errors")

    # ------------------------------------------------------------------ state
    def unacked(self) -> int:
        """Messages still waiting for the cloud's ack."""
        return sum(len(b) for b in self.buffers.values())

    def stats(self) -> dict[str, Any]:
        """Counters, buffers and bytes handed to zenoh, per stream."""
        with self._lock:
            counters, sent = dict(self.counters), dict(self.bytes_put)
        return {
            "vehicle": self.vehicle,
            "cloud_alive": self.cloud_alive.is_set(),
            "counters": counters,
            "payload_bytes": sent,
            "buffers": {
                name: {
                    "next_seq": b.next_seq,
                    "acked": b.acked,
                    "unacked": len(b),
                    "max_depth": b.max_depth,
                    "overflowed": b.overflowed,
                }
                for name, b in self.buffers.items()
            },
        }

    def close(self) -> None:
        """Stop the worker, undeclare everything, close the zenoh session (always)."""
        self._stop.set()
        worker = getattr(self, "_worker", None)
        if worker is not None:
            worker.join(2.0)
        node = getattr(self, "_node", None)
        if node is not None:
            node.close()
        for item in reversed(self._closers):
            with contextlib.suppress(zenoh.ZError):
                item.undeclare()
        self._closers.clear()
        if self._fast_session is not None:
            self._fast_session.close()
        self._session.close()
