"""Node glue for `InputGate`: count a rejected sensor sample by topic and reason, log sparingly."""

from __future__ import annotations

from typing import Any

from edge_llm_ros.fusion.input_gate import InputGate
from edge_llm_ros.telemetry.rejections import rejection_key
from edge_llm_ros.transport.bus import MessageInfo


def admit(node: Any, gate: InputGate, topic: str, typename: str, msg: Any, info: MessageInfo | None) -> bool:
    """True if `msg` may be used; else counts `rejected:<topic>:<reason>` on the node."""
    source = bytes(info.publisher_gid) if info is not None and info.publisher_gid else None
    now = info.received_timestamp_ns if info is not None else 0
    reason = gate.admit(topic, typename, msg, source, now)
    if reason is None:
        return True
    key = rejection_key(topic, reason)
    node.counters[key] += 1
    count = node.counters[key]
    if count & (count - 1) == 0:  # 1st, 2nd, 4th, ...: a flood of garbage must not flood the log
        node.log.warning("rejected %s on %s: %s (%d so far)", typename, topic, reason, count)
    return False
