"""The traffic warning rule: one function from (class, TTC, lane, range) to a warning level.

The same rule defines the sample drives' ground truth (from true object states) and the
decision node's output (from sensed states), so accuracy measures sensing, not rule mismatch.

- BRAKE: in the ego lane and TTC <= brake_ttc_s.
- CAUTION: in the ego lane and TTC <= caution_ttc_s; or a vulnerable road user (person,
  bicycle, motorcycle) within vulnerable_range_m anywhere in view and closing.
- Vulnerable road users get their TTC thresholds scaled by vulnerable_ttc_factor.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

VULNERABLE_CLASSES = frozenset({"person", "bicycle", "motorcycle"})
TRAFFIC_CLASSES = ("car", "truck", "bus", "motorcycle", "bicycle", "person", "other")


class WarningLevel(enum.IntEnum):
    """Ordered so that max() of object levels is the scene level."""

    NONE = 0
    CAUTION = 1
    BRAKE = 2


SCENE_ACTIONS = {WarningLevel.NONE: "CONTINUE", WarningLevel.CAUTION: "SLOW_DOWN", WarningLevel.BRAKE: "BRAKE"}


@dataclass(frozen=True)
class TrafficRuleConfig:
    """Thresholds of the rule (seconds, metres)."""

    brake_ttc_s: float = 1.6
    caution_ttc_s: float = 3.5
    vulnerable_ttc_factor: float = 1.5
    vulnerable_range_m: float = 12.0


def object_warning(
    object_class: str, ttc_s: float | None, in_ego_lane: bool, range_m: float, config: TrafficRuleConfig
) -> WarningLevel:
    """Warning level for one object."""
    vulnerable = object_class in VULNERABLE_CLASSES
    factor = config.vulnerable_ttc_factor if vulnerable else 1.0
    if ttc_s is None:  # not closing: nothing to warn about
        return WarningLevel.NONE
    if in_ego_lane and ttc_s <= config.brake_ttc_s * factor:
        return WarningLevel.BRAKE
    if in_ego_lane and ttc_s <= config.caution_ttc_s * factor:
        return WarningLevel.CAUTION
    if vulnerable and range_m <= config.vulnerable_range_m:
        return WarningLevel.CAUTION
    return WarningLevel.NONE


def scene_warning(levels: list[WarningLevel]) -> WarningLevel:
    """The most severe object level (NONE for an empty scene)."""
    return max(levels, default=WarningLevel.NONE)
