"""The decision record published on /edge_llm/decision (JSON in std_msgs/String).

Schema `edge_llm_ros/decision/1`:
    schema, scene ("traffic" | "industrial"), stamp_ns (source camera frame), camera,
    action (traffic: CONTINUE | SLOW_DOWN | BRAKE; industrial: PASS | REJECT),
    level (traffic: NONE | CAUTION | BRAKE; industrial: same as action), objects (list, below), missing (sensors),
    timing ({stage: [start_ns, end_ns]}, wall clock), decided_ns.
Traffic object: track_id, class, score, range_m, ttc_s, in_ego_lane, level, bbox.
Industrial object: part_id, class ("ok" or a defect), score, verdict (PASS | REJECT), bbox; also
camera_class (the classifier's top class) and defect_probability (what the verdict was taken on).
Fields are only added within a version; removing or changing one bumps the version.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

DECISION_SCHEMA = "edge_llm_ros/decision/1"


class DecisionDecodeError(ValueError):
    """Not a decision record of a known schema."""


@dataclass
class DecisionRecord:
    """One frame's decision."""

    scene: str
    stamp_ns: int
    camera: str
    action: str
    level: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    timing: dict[str, tuple[int, int]] = field(default_factory=dict)
    decided_ns: int = 0
    schema: str = DECISION_SCHEMA

    def to_json(self) -> str:
        """Compact JSON, keys sorted so identical decisions give identical bytes."""
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> DecisionRecord:
        """Parse; raises DecisionDecodeError."""
        try:
            data = json.loads(text)
            if data.get("schema") != DECISION_SCHEMA:
                raise DecisionDecodeError(f"unexpected schema {data.get('schema')!r}")
            data["timing"] = {k: (int(v[0]), int(v[1])) for k, v in data.get("timing", {}).items()}
            return cls(**data)
        except DecisionDecodeError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise DecisionDecodeError(f"malformed decision record: {exc}") from exc

    def decision_key(self) -> str:
        """The decision without timings: equal across runs and transports for the same input."""
        data = asdict(self)
        data.pop("timing")
        data.pop("decided_ns")
        return json.dumps(data, sort_keys=True, separators=(",", ":"))
