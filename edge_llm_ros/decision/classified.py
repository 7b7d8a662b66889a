"""A classified ROI as the decision stage sees it (decoded from vision_msgs/Detection2D)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClassifiedRoi:
    """Class hypothesis for one ROI; `track_id` links it to a radar object when known."""

    track_id: str | None
    label: str
    score: float
    bbox: tuple[float, float, float, float]
