"""Merge ROI proposals from projected radar tracks and from a person detector.

A detector box that overlaps a radar box (IoU >= merge_iou) is the same object: it keeps the
radar track (range, TTC) and the detector's tighter box. Remaining boxes are de-duplicated with
NMS. Closest objects first, so a max_rois cap drops the least urgent ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_llm_ros.fusion.scene import FusedScene
from edge_llm_ros.roi.boxes import Box, area, expand_and_clip, iou


@dataclass(frozen=True)
class RoiConfig:
    """Proposal merging and cropping parameters."""

    merge_iou: float = 0.3
    nms_iou: float = 0.5
    margin: float = 0.1
    min_size_px: float = 12.0
    max_rois: int = 8


@dataclass(frozen=True)
class Roi:
    """One region to classify. `track_id` is set when a radar track supports it."""

    bbox: Box
    source: str  # "radar", "detector" or "radar+detector"
    track_id: str | None
    score: float
    range_m: float | None


def propose(scene: FusedScene, person_boxes: list[tuple[Box, float]], config: RoiConfig) -> list[Roi]:
    """ROIs for one frame, clipped to the image, closest first, at most `max_rois`."""
    rois: list[Roi] = []
    used_detections: set[int] = set()
    for obj in scene.objects:
        if obj.bbox is None:
            continue
        box: Box = obj.bbox
        source = "radar"
        best, best_iou = None, config.merge_iou
        for i, (det_box, _score) in enumerate(person_boxes):
            overlap = iou(box, det_box)
            if i not in used_detections and overlap >= best_iou:
                best, best_iou = i, overlap
        score = 1.0
        if best is not None:
            used_detections.add(best)
            box, score = person_boxes[best]
            source = "radar+detector"
        rois.append(Roi(box, source, obj.track_id, score, obj.range_m))
    for i, (det_box, det_score) in enumerate(person_boxes):
        if i not in used_detections:
            rois.append(Roi(det_box, "detector", None, det_score, None))

    clipped = []
    for roi in rois:
        box = expand_and_clip(roi.bbox, config.margin, scene.image_width, scene.image_height)
        if min(box[2] - box[0], box[3] - box[1]) >= config.min_size_px:
            clipped.append(Roi(box, roi.source, roi.track_id, roi.score, roi.range_m))

    # Radar-backed first (they carry TTC), then by range, then by detector score.
    clipped.sort(key=lambda r: (r.track_id is None, r.range_m if r.range_m is not None else 1e9, -r.score))
    kept: list[Roi] = []
    for roi in clipped:
        if all(iou(roi.bbox, k.bbox) < config.nms_iou or (roi.track_id and k.track_id) for k in kept):
            kept.append(roi)
        if len(kept) == config.max_rois:
            break
    return kept


def total_area(rois: list[Roi]) -> float:
    """Sum of ROI areas (for metrics)."""
    return sum(area(r.bbox) for r in rois)
