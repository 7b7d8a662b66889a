"""How the traffic ground truth labels each radar-tracked object, from its true state.

The warning level itself comes from the one shared rule, `edge_llm_ros.decision.traffic_rules`
(`object_warning` with `TrafficRuleConfig` defaults: BRAKE at TTC <= 1.6 s in the ego lane,
CAUTION at TTC <= 3.5 s in the ego lane, vulnerable road users' TTC thresholds x1.5, and CAUTION
for a closing vulnerable road user within 12 m anywhere in view). This module only computes the
rule's inputs exactly as the fusion engine does from a radar track (radar_link: x forward, y
left, z up; velocity relative to the ego vehicle), using fusion's own defaults
(`edge_llm_ros.fusion.collector.FusionConfig`):

- range = hypot(x, y) (z ignored), range_rate = (x * vx + y * vy) / range (negative = closing);
- ttc = range / -range_rate when -range_rate > min_closing_speed_mps (0.1 m/s), else None;
- in_ego_lane = |y| <= lane_half_width_m (1.8 m).

The class string passed to the rule is the object's true class (car, truck, motorcycle, bicycle,
person, animal); 'animal' is not a vulnerable class there, so it is treated like 'other'.

Radar classification codes: radar_msgs reserves 0..2 (NO_CLASSIFICATION, STATIC, DYNAMIC) and
leaves codes from 32000 to vendors; our radar uses CAR=32000, TRUCK=32001, MOTORCYCLE=32002,
BICYCLE=32003, PERSON=32004, ANIMAL=32005 (`ObjectClass.radar_code`, `class_from_radar`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge_llm_ros._compat import StrEnum
from edge_llm_ros.decision.traffic_rules import TrafficRuleConfig, WarningLevel, object_warning, scene_warning
from edge_llm_ros.fusion.collector import FusionConfig

_FUSION = FusionConfig()
EGO_LANE_HALF_WIDTH_M = _FUSION.lane_half_width_m
MIN_CLOSING_SPEED_MPS = _FUSION.min_closing_speed_mps


class ObjectClass(StrEnum):
    """Road-user classes of the traffic scene (the ground truth's `class` strings)."""

    CAR = "car"
    TRUCK = "truck"
    MOTORCYCLE = "motorcycle"
    BICYCLE = "bicycle"
    PERSON = "person"
    ANIMAL = "animal"

    @property
    def radar_code(self) -> int:
        """The RadarTrack.classification value our radar reports for this class."""
        return RADAR_CLASSIFICATION[self]


RADAR_CLASSIFICATION: dict[ObjectClass, int] = {
    ObjectClass.CAR: 32000,
    ObjectClass.TRUCK: 32001,
    ObjectClass.MOTORCYCLE: 32002,
    ObjectClass.BICYCLE: 32003,
    ObjectClass.PERSON: 32004,
    ObjectClass.ANIMAL: 32005,
}


def class_from_radar(code: int) -> ObjectClass | None:
    """The class for a RadarTrack.classification code; None for 0..2 and unknown codes."""
    for cls, value in RADAR_CLASSIFICATION.items():
        if value == code:
            return cls
    return None


@dataclass(frozen=True)
class TrackAssessment:
    """What the rule derives from one track."""

    range_m: float
    range_rate_mps: float
    ttc_s: float | None
    in_ego_lane: bool
    level: WarningLevel


def range_and_rate(x: float, y: float, vx: float, vy: float) -> tuple[float, float]:
    """Ground-plane range (m) and range rate (m/s, negative when closing)."""
    range_m = math.hypot(x, y)
    if range_m < 1e-9:
        return 0.0, 0.0
    return range_m, (x * vx + y * vy) / range_m


def assess(
    cls: ObjectClass, x: float, y: float, vx: float, vy: float, rule: TrafficRuleConfig | None = None
) -> TrackAssessment:
    """Apply the shared rule to one object (position and relative velocity in radar_link)."""
    range_m, rate = range_and_rate(x, y, vx, vy)
    ttc_s = range_m / -rate if -rate > MIN_CLOSING_SPEED_MPS else None
    in_lane = abs(y) <= EGO_LANE_HALF_WIDTH_M
    level = object_warning(cls.value, ttc_s, in_lane, range_m, rule or TrafficRuleConfig())
    return TrackAssessment(range_m, rate, ttc_s, in_lane, level)


__all__ = [
    "EGO_LANE_HALF_WIDTH_M",
    "MIN_CLOSING_SPEED_MPS",
    "RADAR_CLASSIFICATION",
    "ObjectClass",
    "TrackAssessment",
    "WarningLevel",
    "assess",
    "class_from_radar",
    "range_and_rate",
    "scene_warning",
]
