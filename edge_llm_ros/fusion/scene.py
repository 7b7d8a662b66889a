"""The fused scene: what sensor_fusion publishes, as a versioned JSON record.

ROS 2 has no standard message for "camera frame + radar objects + ego state", so the record
travels as JSON in std_msgs/String (schema id below; bump the version on breaking changes).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

FUSED_SCENE_SCHEMA = "edge_llm_ros/fused_scene/1"


class SceneDecodeError(ValueError):
    """A fused-scene record that is not valid JSON of the expected schema."""


@dataclass(frozen=True)
class RadarObject:
    """A radar track attributed to the image."""

    track_id: str
    classification: int
    position: tuple[float, float, float]
    velocity: tuple[float, float, float]
    size: tuple[float, float, float]
    range_m: float
    range_rate_mps: float
    ttc_s: float | None
    lateral_m: float
    in_ego_lane: bool
    bbox: tuple[float, float, float, float] | None


@dataclass(frozen=True)
class EgoState:
    """Geotag of the frame from GPS."""

    stamp_ns: int
    latitude: float
    longitude: float
    altitude: float
    speed_mps: float | None
    heading_deg: float | None
    status: int


@dataclass
class FusedScene:
    """One camera frame's fused view of the world."""

    stamp_ns: int
    camera: str
    image_width: int
    image_height: int
    objects: list[RadarObject] = field(default_factory=list)
    ego: EgoState | None = None
    radar_stamp_ns: int | None = None
    missing: list[str] = field(default_factory=list)
    timing: dict[str, tuple[int, int]] = field(default_factory=dict)
    schema: str = FUSED_SCENE_SCHEMA

    def to_json(self) -> str:
        """Compact JSON; infinities never appear (TTC of a receding object is null)."""
        return json.dumps(asdict(self), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> FusedScene:
        """Parse and check the schema id; errors raise SceneDecodeError."""
        try:
            data: dict[str, Any] = json.loads(text)
            if data.get("schema") != FUSED_SCENE_SCHEMA:
                raise SceneDecodeError(f"unexpected schema {data.get('schema')!r}, want {FUSED_SCENE_SCHEMA}")
            objects = [
                RadarObject(
                    **{
                        **o,
                        "position": tuple(o["position"]),
                        "velocity": tuple(o["velocity"]),
                        "size": tuple(o["size"]),
                        "bbox": tuple(o["bbox"]) if o["bbox"] is not None else None,
                    }
                )
                for o in data["objects"]
            ]
            ego = EgoState(**data["ego"]) if data.get("ego") else None
            return cls(
                stamp_ns=int(data["stamp_ns"]),
                camera=str(data["camera"]),
                image_width=int(data["image_width"]),
                image_height=int(data["image_height"]),
                objects=objects,
                ego=ego,
                radar_stamp_ns=data.get("radar_stamp_ns"),
                missing=list(data.get("missing", [])),
                timing={k: (int(v[0]), int(v[1])) for k, v in data.get("timing", {}).items()},
            )
        except SceneDecodeError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise SceneDecodeError(f"malformed fused scene: {exc}") from exc


def finite(*values: float) -> bool:
    """True when every value is a finite number."""
    return all(math.isfinite(v) for v in values)
