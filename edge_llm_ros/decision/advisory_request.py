"""What the decision node asks the LLM about a frame (JSON on /edge_llm/llm/request).

Schema `edge_llm_ros/advisory_request/1`: stamp_ns, scene, ego_speed_mps, actions, objects
[{object_id (small int the LLM can repeat), track_id, label, range_m, ttc_s, lane}]. The LLM's
advisory comes back on /edge_llm/advisory with the same stamp_ns, which links it to the
decision it explains.
"""

from __future__ import annotations

import json
from typing import Any

from edge_llm_ros.decision.record import DecisionRecord
from edge_llm_ros.fusion.scene import FusedScene

ADVISORY_REQUEST_SCHEMA = "edge_llm_ros/advisory_request/1"
TRAFFIC_ACTIONS = ("CONTINUE", "SLOW_DOWN", "BRAKE")


class AdvisoryRequestError(ValueError):
    """Not an advisory request of a known schema."""


def build_request(record: DecisionRecord, scene: FusedScene, max_objects: int = 8) -> str:
    """The request for one decided frame: the closest objects first, as the decision saw them."""
    objects = []
    ranked = [o for o in record.objects if o.get("track_id")][:max_objects]
    for index, obj in enumerate(ranked, start=1):
        objects.append(
            {
                "object_id": index,
                "track_id": obj["track_id"],
                "label": obj["class"],
                "range_m": obj.get("range_m"),
                "ttc_s": obj.get("ttc_s"),
                "lane": "ego" if obj.get("in_ego_lane") else "adjacent",
            }
        )
    request = {
        "schema": ADVISORY_REQUEST_SCHEMA,
        "stamp_ns": record.stamp_ns,
        "scene": record.scene,
        "ego_speed_mps": scene.ego.speed_mps if scene.ego is not None else None,
        "actions": list(TRAFFIC_ACTIONS),
        "decided_action": record.action,
        "objects": objects,
    }
    return json.dumps(request, separators=(",", ":"), allow_nan=False)


def parse_request(text: str) -> dict[str, Any]:
    """Parse and check the schema id and required fields."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise AdvisoryRequestError(f"advisory request is not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("schema") != ADVISORY_REQUEST_SCHEMA:
        raise AdvisoryRequestError("advisory request has an unknown schema")
    for key in ("stamp_ns", "scene", "objects"):
        if key not in data:
            raise AdvisoryRequestError(f"advisory request lacks {key!r}")
    return data
