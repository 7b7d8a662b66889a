"""Exclusive outputs: redundant instances of a node never publish the same frame twice.

With warm standbys, two instances of a node kind exist, and at a failover or hot-swap the one
taking over holds a backlog of queued inputs (keep-last) that the previous instance may already
have served. Every message of this pipeline is keyed by its source frame, (stamp, camera), so an
instance whose node has `exclusive_outputs` set:

- shadows each of its lifecycle publishers' topics, remembering the keys other publishers (a
  different GID: the other instance) have sent there (the last `KEY_MEMORY` keys per topic);
- refuses to publish a message whose key another instance already published (counted as
  `duplicate_suppressed`), so no frame is served by both;
- skips an input whose frame key another instance already served on one of its outputs (counted
  as `input_already_served`), so the backlog costs nothing.

Frames the previous instance had in flight but never published stay in the new instance's queue
and are served by it, so no frame is served by neither. Keys of messages:
  std_msgs/Header, or a message whose first field is one -> (stamp_ns, frame_id)
  std_msgs/String holding a JSON object with stamp_ns and camera -> (stamp_ns, camera[, stage])
Messages of other shapes have no key and are never suppressed. Shadowing runs on the transport's
thread (no executor involved), so an inactive standby keeps its memory current.
"""

from __future__ import annotations

import json
import struct
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from edge_llm_ros.msgs.cdr_header import header_frame_id, header_stamp_ns, is_little_endian
from edge_llm_ros.msgs.codec import CodecError, MessageCodec
from edge_llm_ros.transport.bus import UNKNOWN_PUBLISHER, BusNode, Subscription
from edge_llm_ros.transport.qos import QoSProfile

#: Keys remembered per topic (10 Hz x 2 cameras x 25 s: far more than any backlog).
KEY_MEMORY = 512
STRING = "std_msgs/msg/String"

FrameKey = tuple[Hashable, ...]


class KeyExtractor:
    """Frame keys of messages of one type, from CDR bytes or from a decoded message."""

    def __init__(self, codec: MessageCodec, typename: str) -> None:
        self.typename = typename
        self._codec = codec
        fields = codec.msg_class(typename).__dataclass_fields__
        first = next((f for f in fields if f != "__msgtype__"), None)
        self.is_header = typename == "std_msgs/msg/Header"
        # Header-first messages and std_msgs/Header itself share the CDR layout read below.
        self.has_header = first == "header" or self.is_header
        self.is_string = typename == STRING

    def from_msg(self, msg: Any) -> FrameKey | None:
        """Key of a decoded message, or None."""
        if self.has_header:
            head = msg if self.is_header else msg.header
            return (int(head.stamp.sec) * 1_000_000_000 + int(head.stamp.nanosec), str(head.frame_id))
        if self.is_string:
            return _json_key(str(msg.data))
        return None

    def from_bytes(self, data: bytes) -> FrameKey | None:
        """Key from CDR bytes (Header-first messages are read in place, without decoding)."""
        try:
            if self.has_header and is_little_endian(data):
                return (header_stamp_ns(data), header_frame_id(data))
            if self.has_header or self.is_string:
                return self.from_msg(self._codec.deserialize(data, self.typename))
        except (CodecError, struct.error, AttributeError):
            return None
        return None


def _json_key(text: str) -> FrameKey | None:
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or "stamp_ns" not in data or "camera" not in data:
        return None
    key: FrameKey = (int(data["stamp_ns"]), str(data["camera"]))
    if "stage" in data:
        key = (*key, str(data["stage"]))
    return key


def _add_bounded(keys: OrderedDict[FrameKey, None], key: FrameKey) -> None:
    """Insert `key` as the newest, forgetting the oldest beyond KEY_MEMORY."""
    keys[key] = None
    keys.move_to_end(key)
    while len(keys) > KEY_MEMORY:
        keys.popitem(last=False)


class OutputFence:
    """Remembers which frame keys other publishers sent on one topic."""

    def __init__(
        self,
        bus_node: BusNode,
        topic: str,
        typename: str,
        own_gid: bytes,
        codec: MessageCodec,
        qos: QoSProfile,
    ) -> None:
        self.topic = topic
        self.extractor = KeyExtractor(codec, typename)
        self._own_gid = own_gid
        self._seen: OrderedDict[FrameKey, None] = OrderedDict()
        #: Keys this instance published itself: where the transport cannot tell who published a
        #: sample (rclpy before Iron gives no publisher gid), our own echo must not count as
        #: another instance's output, or replaying a drive a second time would serve nothing.
        self._own: OrderedDict[FrameKey, None] = OrderedDict()
        self._lock = threading.Lock()
        self._holder: list[Subscription] = []
        sub = bus_node.create_subscription(topic, typename, qos, on_ready=self._drain)
        self._holder.append(sub)
        self._drain()

    def _drain(self) -> None:
        # Transport thread: parse keys of what others published, never raise.
        if not self._holder:
            return
        while (sample := self._holder[0].take(0.0)) is not None:
            if sample.info.publisher_gid == self._own_gid:
                continue
            key = self.extractor.from_bytes(sample.data)
            if key is None:
                continue
            if sample.info.publisher_gid == UNKNOWN_PUBLISHER:
                with self._lock:
                    if key in self._own:
                        continue
            self.remember(key)

    def remember(self, key: FrameKey) -> None:
        """Record that another instance published `key`."""
        with self._lock:
            _add_bounded(self._seen, key)

    def claim(self, key: FrameKey | None) -> bool:
        """True (and `key` is ours) unless another instance already published `key` here."""
        if self.served(key):
            return False
        if key is not None:
            with self._lock:
                _add_bounded(self._own, key)
        return True

    def served(self, key: FrameKey | None) -> bool:
        """Whether another instance already published `key` here."""
        if key is None:
            return False
        self._drain()  # whatever arrived up to now counts
        with self._lock:
            return key in self._seen

    def served_frame(self, frame: FrameKey) -> bool:
        """Whether another instance published the output of the (stamp, camera) `frame` here.

        Only topics keyed by the frame alone count: on a topic several stages share (stage
        timings, keyed (stamp, camera, stage)) another stage's message says nothing about us.
        """
        with self._lock:
            return len(frame) == 2 and frame in self._seen

    def forget(self) -> None:
        """Drop every remembered key (sensor time restarted: old stamps will come again)."""
        with self._lock:
            self._seen.clear()
            self._own.clear()

    def close(self) -> None:
        """Stop shadowing."""
        if self._holder:
            self._holder[0].close()
            self._holder.clear()
