"""A paced bag player that loops: a drive of any length from a short bag, stamps moving forward each loop.

Used by the lifecycle benches, which watch failovers and swaps against live-paced input.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from edge_llm_ros.msgs.cdr_header import header_frame_id, header_stamp_ns, restamp
from edge_llm_ros.nodes import topics


class LoopingPlayer:
    """Publishes a bag's sensor topics at the bag's pace, looping with stamps moved forward each loop."""

    def __init__(self, bus_node: Any, bag: Path, rate: float = 1.0) -> None:
        from edge_llm_ros.transport.qos import SENSOR_DATA

        self._node = bus_node
        self.bag = Path(bag)
        self.rate = rate
        self._qos = SENSOR_DATA
        self._publishers: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-player", daemon=True)
        #: (stamp_ns, camera) of every frame published, with the wall time it went out.
        self.frames: list[tuple[int, str, int]] = []
        self.loops = 0
        #: Wall time (ns) at which each loop after the first began.
        self.loop_starts_ns: list[int] = []
        self.error: BaseException | None = None

    def start(self) -> LoopingPlayer:
        """Start playing on a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current message."""
        self._stop.set()
        self._thread.join(5.0)

    def _publisher(self, topic: str, typename: str) -> Any:
        if topic not in self._publishers:
            self._publishers[topic] = self._node.create_publisher(topic, typename, self._qos)
        return self._publishers[topic]

    def _run(self) -> None:
        from edge_llm_ros.bags.reader import BagReader

        try:
            offset = 0
            started = time.monotonic()
            bag_first: int | None = None
            bag_last = 0
            while not self._stop.is_set():
                with BagReader(self.bag) as reader:
                    for message in reader.messages():
                        if self._stop.is_set():
                            return
                        if message.typename not in topics.SENSOR_INPUT_TYPES:
                            continue
                        bag_first = message.stamp_ns if bag_first is None else bag_first
                        bag_last = max(bag_last, message.stamp_ns)
                        due = started + (message.stamp_ns + offset - bag_first) / 1e9 / self.rate
                        if (delay := due - time.monotonic()) > 0 and self._stop.wait(delay):
                            return
                        data = restamp(message.data, offset)
                        if message.typename == topics.IMAGE:
                            self.frames.append((header_stamp_ns(data), header_frame_id(data), time.time_ns()))
                        self._publisher(message.topic, message.typename).publish_raw(data)
                # The next loop starts one frame period after this one, stamps shifted alike, so
                # every stage sees time moving forward as on a long drive.
                offset += (bag_last - (bag_first or 0)) + 100_000_000
                self.loops += 1
                self.loop_starts_ns.append(time.time_ns())
        except BaseException as exc:  # reported by the bench, never silently lost
            self.error = exc
