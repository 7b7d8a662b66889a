"""Part segmentation on a conveyor image: bright parts against the dark belt, classical OpenCV.

The camera looks straight down on the belt, so a part is a bright blob on a dark, textured
background. Per frame: gray level of the belt (median of a subsampled belt band, so slow lighting
changes and belt wear do not need a retuned threshold) -> foreground = pixels brighter than that
by `contrast` -> a small opening removes the belt grain and splice lines -> outer contours -> one
box per blob whose enclosed area is large enough to be a part. Holes and dark defects inside a
part do not split it: only its outer contour is used.

A blob touching the belt region's border is cut off by the field of view (entering or leaving):
it is tracked, but not inspected, because a defect may sit in the part that is not visible.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from edge_llm_ros.roi.boxes import Box


@dataclass(frozen=True)
class SegmenterConfig:
    """Where the belt is and what counts as a part.

    `belt_roi` is (x0, y0, x1, y1) of the belt in image pixels (the station's calibration: the
    camera is fixed over the belt); None = the whole image.
    """

    belt_roi: tuple[int, int, int, int] | None = None
    contrast: float = 40.0
    min_area_px: int = 600
    open_px: int = 3
    border_px: int = 1

    def __post_init__(self) -> None:
        """Refuse settings that cannot segment anything, naming the field."""
        if self.belt_roi is not None:
            x0, y0, x1, y1 = self.belt_roi
            if x0 < 0 or y0 < 0 or x1 <= x0 or y1 <= y0:
                raise ValueError(f"belt_roi {self.belt_roi} must be x0 < x1, y0 < y1, all >= 0")
        if self.contrast <= 0:
            raise ValueError(f"contrast must be > 0, got {self.contrast}")
        if self.min_area_px < 1 or self.open_px < 1 or self.border_px < 0:
            raise ValueError("min_area_px and open_px must be >= 1, border_px >= 0")


@dataclass(frozen=True)
class PartBlob:
    """One segmented part: its box in image pixels, area inside its outline, and which box edges the view cuts.

    `cut` is (left, top, right, bottom): True where that edge of the box is the border of the belt
    region, not the part's own edge.
    """

    bbox: Box
    area: int
    cut: tuple[bool, bool, bool, bool] = (False, False, False, False)

    @property
    def fully_visible(self) -> bool:
        """No edge is cut: the whole part is in view."""
        return not any(self.cut)

    @property
    def center(self) -> tuple[float, float]:
        """Box centre (x, y)."""
        return (self.bbox[0] + self.bbox[2]) / 2, (self.bbox[1] + self.bbox[3]) / 2


class PartSegmenter:
    """Stateless per frame; keeps only its structuring element and last belt level (for diagnostics)."""

    def __init__(self, config: SegmenterConfig | None = None) -> None:
        self.config = config or SegmenterConfig()
        size = self.config.open_px
        self._kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
        self.belt_level: float | None = None

    def segment(self, rgb: NDArray[np.uint8]) -> list[PartBlob]:
        """Parts in an HxWx3 RGB frame, left to right; raises ValueError on a frame that is not one."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 image, got shape {rgb.shape} dtype {rgb.dtype}")
        height, width = rgb.shape[:2]
        x0, y0, x1, y1 = self.config.belt_roi or (0, 0, width, height)
        x1, y1 = min(x1, width), min(y1, height)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"belt_roi {self.config.belt_roi} lies outside the {width}x{height} image")
        band = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        gray = cv2.cvtColor(band, cv2.COLOR_RGB2GRAY)
        # Mostly belt (parts cover well under half of it), so the median is the belt's level;
        # every 4th pixel gives the same median at a sixteenth of the sorting cost.
        level = float(np.median(gray[::4, ::4]))
        self.belt_level = level
        threshold = min(254.0, level + self.config.contrast)
        _, mask = cv2.threshold(gray, threshold, 255, cv2.THRESH_BINARY)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        # Outer contours only: holes and dark defects inside a part never split or shrink it (and
        # on this CPU they take a twentieth of the time of labelling every pixel).
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        blobs = []
        border = self.config.border_px
        roi_w, roi_h = x1 - x0, y1 - y0
        for contour in contours:
            area = round(cv2.contourArea(contour))
            if area < self.config.min_area_px:
                continue
            bx, by, bw, bh = cv2.boundingRect(contour)
            cut = (bx < border, by < border, bx + bw > roi_w - border, by + bh > roi_h - border)
            box: Box = (float(bx + x0), float(by + y0), float(bx + bw + x0), float(by + bh + y0))
            blobs.append(PartBlob(box, area, cut))
        blobs.sort(key=lambda b: (b.bbox[0], b.bbox[1]))
        return blobs
