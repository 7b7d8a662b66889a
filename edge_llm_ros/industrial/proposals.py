"""Part proposals for one camera: segment the frame, track the parts, cut the crops to inspect.

Only fully visible parts are proposed for inspection (a defect may sit in the part of a cut-off
one); the others are still tracked so a part keeps the id it got on entering the view. The crop
is the part's box grown by `margin` per side, so the classifier sees the part's outline against
the belt, as it did in training (app/prepare/defect_classifier.py uses `crop_box` too).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge_llm_ros.industrial.segmentation import PartSegmenter, SegmenterConfig
from edge_llm_ros.industrial.tracking import PartTracker, TrackedPart, TrackerConfig
from edge_llm_ros.roi.boxes import Box, expand_and_clip

DEFAULT_MARGIN = 0.04


def crop_box(part_box: Box, margin: float, width: int, height: int) -> Box:
    """The classifier's crop for a part: its box grown by `margin` of its size per side, clipped."""
    return expand_and_clip(part_box, margin, width, height)


@dataclass(frozen=True)
class PartProposal:
    """One part to inspect: stable id, segmented box and the crop box for the classifier."""

    part_id: int
    part_box: Box
    crop: Box


class PartProposer:
    """Segmenter + tracker of one camera; `propose` is called once per frame, in stamp order."""

    def __init__(
        self,
        segmenter: SegmenterConfig | None = None,
        tracker: TrackerConfig | None = None,
        margin: float = DEFAULT_MARGIN,
        max_parts: int = 8,
    ) -> None:
        if not 0.0 <= margin <= 1.0 or max_parts < 1:
            raise ValueError("margin must be within [0, 1] and max_parts >= 1")
        self.segmenter = PartSegmenter(segmenter)
        self.tracker = PartTracker(tracker)
        self.margin = margin
        self.max_parts = max_parts
        self.counters: Counter[str] = Counter()
        self.last_parts: list[TrackedPart] = []

    def propose(self, stamp_ns: int, rgb: NDArray[np.uint8]) -> list[PartProposal]:
        """The fully visible parts of the frame, those closest to leaving the view first."""
        blobs = self.segmenter.segment(rgb)
        parts = self.tracker.update(stamp_ns, blobs)
        self.last_parts = parts
        height, width = rgb.shape[:2]
        visible = [p for p in parts if p.fully_visible]
        self.counters["parts_partial"] += len(parts) - len(visible)
        # A cap drops the parts that will be seen again: those furthest upstream on the belt.
        vx, vy = self.tracker.velocity
        visible.sort(key=lambda p: -(vx * (p.bbox[0] + p.bbox[2]) + vy * (p.bbox[1] + p.bbox[3])))
        if len(visible) > self.max_parts:
            self.counters["parts_over_cap"] += len(visible) - self.max_parts
            visible = visible[: self.max_parts]
        return [PartProposal(p.part_id, p.bbox, crop_box(p.bbox, self.margin, width, height)) for p in visible]

    def stats(self) -> dict[str, int]:
        """Proposer and tracker counters, merged."""
        merged = dict(self.counters)
        for key, value in self.tracker.counters.items():
            merged[key] = merged.get(key, 0) + value
        return merged
