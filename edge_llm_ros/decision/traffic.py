"""Traffic fast-path decider: fused radar objects + classified ROIs -> per-object warnings."""

from __future__ import annotations

from edge_llm_ros.decision.classified import ClassifiedRoi
from edge_llm_ros.decision.record import DecisionRecord
from edge_llm_ros.decision.traffic_rules import (
    SCENE_ACTIONS,
    TrafficRuleConfig,
    WarningLevel,
    object_warning,
    scene_warning,
)
from edge_llm_ros.fusion.scene import FusedScene


class TrafficDecider:
    """Deterministic: the same scene and detections give the same record (timings aside)."""

    def __init__(self, rules: TrafficRuleConfig, min_score: float = 0.0, unknown_class: str = "other") -> None:
        self.rules = rules
        self.min_score = min_score
        self.unknown_class = unknown_class

    def decide(self, scene: FusedScene, detections: list[ClassifiedRoi]) -> DecisionRecord:
        """One record per frame; radar objects without a confident class count as `unknown_class`."""
        by_track = {d.track_id: d for d in detections if d.track_id}
        objects = []
        levels: list[WarningLevel] = []
        for obj in sorted(scene.objects, key=lambda o: o.range_m):
            det = by_track.get(obj.track_id)
            label = det.label if det is not None and det.score >= self.min_score else self.unknown_class
            level = object_warning(label, obj.ttc_s, obj.in_ego_lane, obj.range_m, self.rules)
            levels.append(level)
            objects.append(
                {
                    "track_id": obj.track_id,
                    "class": label,
                    "score": round(det.score, 4) if det is not None else None,
                    "range_m": round(obj.range_m, 3),
                    "ttc_s": round(obj.ttc_s, 3) if obj.ttc_s is not None else None,
                    "in_ego_lane": obj.in_ego_lane,
                    "level": level.name,
                    "bbox": [round(v, 1) for v in obj.bbox] if obj.bbox else None,
                }
            )
        for det in detections:  # camera-only objects (no radar): no range, so no TTC-based warning
            if det.track_id is None:
                objects.append(
                    {"track_id": None, "class": det.label, "score": round(det.score, 4), "range_m": None,
                     "ttc_s": None, "in_ego_lane": None, "level": WarningLevel.NONE.name,
                     "bbox": [round(v, 1) for v in det.bbox]}
                )
        level = scene_warning(levels)
        return DecisionRecord(
            scene="traffic",
            stamp_ns=scene.stamp_ns,
            camera=scene.camera,
            action=SCENE_ACTIONS[level],
            level=level.name,
            objects=objects,
            missing=list(scene.missing),
            timing=dict(scene.timing),
        )
