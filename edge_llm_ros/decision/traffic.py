"""Traffic fast-path decider: fused radar objects + classified ROIs -> per-object warnings."""

from __future__ import annotations

from collections.abc import Mapping

from edge_llm_ros.decision.classified import ClassifiedRoi
from edge_llm_ros.decision.record import DecisionRecord
from edge_llm_ros.decision.traffic_rules import (
    SCENE_ACTIONS,
    VULNERABLE_CLASSES,
    TrafficRuleConfig,
    WarningLevel,
    object_warning,
    scene_warning,
)
from edge_llm_ros.fusion.scene import FusedScene


class TrafficDecider:
    """Deterministic: the same scene and detections give the same record (timings aside).

    An object's class fuses two opinions: the camera classifier's label for its ROI and the
    radar's own classification (vendor codes mapped by `radar_classes`). Safety first: if the
    radar says vulnerable road user and the camera does not, the object is treated as
    vulnerable; otherwise a confident camera label wins, then the radar class, then 'other'.
    """

    def __init__(
        self,
        rules: TrafficRuleConfig,
        min_score: float = 0.0,
        unknown_class: str = "other",
        radar_classes: Mapping[int, str] | None = None,
    ) -> None:
        self.rules = rules
        self.min_score = min_score
        self.unknown_class = unknown_class
        self.radar_classes = dict(radar_classes or {})

    def fuse_class(self, camera: ClassifiedRoi | None, radar_code: int) -> tuple[str, str]:
        """(class, source) for one object."""
        cam = camera.label if camera is not None and camera.score >= self.min_score else None
        radar = self.radar_classes.get(radar_code)
        if radar in VULNERABLE_CLASSES and cam not in VULNERABLE_CLASSES:
            return radar, "radar"
        if cam is not None and cam != self.unknown_class:
            return cam, "camera"
        if radar is not None:
            return radar, "radar"
        return self.unknown_class, "none"

    def decide(self, scene: FusedScene, detections: list[ClassifiedRoi]) -> DecisionRecord:
        """One record per frame; radar objects without a confident class count as `unknown_class`."""
        by_track = {d.track_id: d for d in detections if d.track_id}
        objects = []
        levels: list[WarningLevel] = []
        for obj in sorted(scene.objects, key=lambda o: o.range_m):
            det = by_track.get(obj.track_id)
            label, source = self.fuse_class(det, obj.classification)
            level = object_warning(label, obj.ttc_s, obj.in_ego_lane, obj.range_m, self.rules)
            levels.append(level)
            objects.append(
                {
                    "track_id": obj.track_id,
                    "class": label,
                    "class_source": source,
                    "camera_class": det.label if det is not None else None,
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
                    {
                        "track_id": None,
                        "class": det.label,
                        "class_source": "camera",
                        "camera_class": det.label,
                        "score": round(det.score, 4),
                        "range_m": None,
                        "ttc_s": None,
                        "in_ego_lane": None,
                        "level": WarningLevel.NONE.name,
                        "bbox": [round(v, 1) for v in det.bbox],
                    }
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
