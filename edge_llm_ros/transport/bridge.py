"""Forward topics between two buses, payloads untouched (same CDR on both sides).

Used to keep a node that must live in another process (the LLM: ONNX Runtime GenAI holds the
GIL while it generates, which would stall every other node of the process) on zenoh while the
rest of the pipeline runs inproc. Samples are forwarded from the transport's delivery thread.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from edge_llm_ros.transport.bus import Bus, BusNode, Publisher, Subscription, TransportError
from edge_llm_ros.transport.qos import QoSProfile

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BridgedTopic:
    """One topic forwarded from the `source` side to the other."""

    topic: str
    typename: str
    qos: QoSProfile
    source: str  # "a" or "b"


class BusBridge:
    """Forwards each BridgedTopic from bus a to bus b or the reverse."""

    def __init__(self, a: Bus, b: Bus, topics: Sequence[BridgedTopic], name: str = "bridge") -> None:
        self._nodes: list[BusNode] = [a.create_node(f"{name}_a"), b.create_node(f"{name}_b")]
        self._links: list[tuple[Subscription, Publisher]] = []
        self.forwarded = 0
        self.errors = 0
        for spec in topics:
            if spec.source not in ("a", "b"):
                raise ValueError(f"source of {spec.topic} must be 'a' or 'b', got {spec.source!r}")
            src, dst = (self._nodes[0], self._nodes[1]) if spec.source == "a" else (self._nodes[1], self._nodes[0])
            publisher = dst.create_publisher(spec.topic, spec.typename, spec.qos)
            holder: list[Subscription] = []
            subscription = src.create_subscription(
                spec.topic, spec.typename, spec.qos, on_ready=functools.partial(self._forward, holder, publisher)
            )
            holder.append(subscription)
            self._links.append((subscription, publisher))

    def _forward(self, holder: list[Subscription], publisher: Publisher) -> None:
        if not holder:
            return
        while (sample := holder[0].take(0.0)) is not None:
            try:
                publisher.publish_raw(sample.data, sample.info.source_timestamp_ns)
                self.forwarded += 1
            except TransportError:
                self.errors += 1
                _log.warning("bridge could not forward %s", publisher.topic, exc_info=True)

    def close(self) -> None:
        """Stop forwarding."""
        for node in self._nodes:
            node.close()
        self._links.clear()
