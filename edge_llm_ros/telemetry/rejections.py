"""Counter keys for rejected inputs: `rejected:<topic>:<reason>`, parsed back for reports.

Nodes count in a flat Counter; the replay report, Prometheus and /diagnostics need (topic,
reason). Topics never contain ':' so the first ':' after the topic splits it from the reason.
Older keys (`bad_input:<topic>` from the decode path, `rejected:<reason>` from fusion) still
parse, with the topic or reason they lack named "unknown"/"decode".
"""

from __future__ import annotations

from collections.abc import Mapping

REJECTED = "rejected"
BAD_INPUT = "bad_input"


def rejection_key(topic: str, reason: str) -> str:
    """The counter key of one rejection of `topic` for `reason`."""
    return f"{REJECTED}:{topic}:{reason}"


def parse_rejection(key: str) -> tuple[str, str] | None:
    """(topic, reason) of a rejection counter key, or None when `key` counts something else."""
    kind, _, rest = key.partition(":")
    if kind not in (REJECTED, BAD_INPUT) or not rest:
        return None
    if rest.startswith("/"):
        topic, _, reason = rest.partition(":")
        return topic, reason or ("decode" if kind == BAD_INPUT else "unknown")
    return "unknown", rest


def rejections_by_topic(counters: Mapping[str, Mapping[str, int]]) -> dict[tuple[str, str], int]:
    """Rejections over all nodes, by (topic, reason).

    Several nodes subscribe to the same sensor topic (the image reaches fusion, ROI and vision)
    and each rejects the same bad sample; the largest count of any one node is the number of
    bad samples, not their sum.
    """
    merged: dict[tuple[str, str], int] = {}
    for node_counters in counters.values():
        for key, value in node_counters.items():
            parsed = parse_rejection(key)
            if parsed is not None and isinstance(value, int) and value > 0:
                merged[parsed] = max(merged.get(parsed, 0), value)
    return merged
