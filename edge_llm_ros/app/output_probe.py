"""Watch the pipeline's outputs like a downstream user: every detections, decision and fused-scene arrival."""

from __future__ import annotations

import json
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from edge_llm_ros.msgs.cdr_header import header_frame_id, header_stamp_ns

OUTPUT_TOPIC = {"vision_inference": "/edge_llm/detections", "decision": "/edge_llm/decision"}
#: The first stage's output: a frame missing here was lost upstream of the node under test.
SCENE_TOPIC = "/edge_llm/fused_scene"

@dataclass
class OutputLog:
    """Arrivals on one output topic: (recv_ns, stamp_ns, camera)."""

    arrivals: list[tuple[int, int, str]] = field(default_factory=list)
    malformed: int = 0

    def keys(self) -> Counter[tuple[int, str]]:
        """How many times each (stamp, camera) arrived."""
        return Counter((stamp, camera) for _recv, stamp, camera in self.arrivals)

    def duplicates(self, start_ns: int = 0) -> int:
        """Extra copies of keys that arrived more than once (after `start_ns`)."""
        counts = Counter((s, c) for recv, s, c in self.arrivals if recv >= start_ns)
        return sum(n - 1 for n in counts.values() if n > 1)


class OutputProbe:
    """Subscribes to detections and decisions like a downstream user and logs every arrival."""

    def __init__(self, bus_node: Any) -> None:
        from edge_llm_ros.decision.record import DecisionDecodeError, DecisionRecord
        from edge_llm_ros.msgs.codec import CodecError
        from edge_llm_ros.transport.qos import QoSProfile

        codec = bus_node.bus.codec
        self.logs = {topic: OutputLog() for topic in (*OUTPUT_TOPIC.values(), SCENE_TOPIC)}
        self._subs: list[Any] = []

        def detections(data: bytes) -> tuple[int, str]:
            return header_stamp_ns(data), header_frame_id(data)

        def decision(data: bytes) -> tuple[int, str]:
            record = DecisionRecord.from_json(codec.deserialize(data, "std_msgs/msg/String").data)
            return int(record.stamp_ns), str(record.camera)

        def scene(data: bytes) -> tuple[int, str]:
            fields = json.loads(codec.deserialize(data, "std_msgs/msg/String").data)
            return int(fields["stamp_ns"]), str(fields["camera"])

        parsers = {"/edge_llm/detections": detections, "/edge_llm/decision": decision, SCENE_TOPIC: scene}
        types = {
            "/edge_llm/detections": "vision_msgs/msg/Detection2DArray",
            "/edge_llm/decision": "std_msgs/msg/String",
            SCENE_TOPIC: "std_msgs/msg/String",
        }
        for topic, parse in parsers.items():
            holder: list[Any] = []
            log = self.logs[topic]

            def ready(holder: list[Any] = holder, parse: Any = parse, log: OutputLog = log) -> None:
                if not holder:
                    return
                while (sample := holder[0].take(0.0)) is not None:
                    try:
                        stamp, camera = parse(sample.data)
                    except (CodecError, DecisionDecodeError, struct.error, ValueError, KeyError):
                        log.malformed += 1
                        continue
                    log.arrivals.append((time.time_ns(), stamp, camera))

            sub = bus_node.create_subscription(topic, types[topic], QoSProfile(depth=1000), on_ready=ready)
            holder.append(sub)
            self._subs.append(sub)
