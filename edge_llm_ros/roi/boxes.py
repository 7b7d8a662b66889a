"""Axis-aligned box helpers (x1, y1, x2, y2 in pixels)."""

from __future__ import annotations

Box = tuple[float, float, float, float]


def area(b: Box) -> float:
    """Box area (0 for degenerate boxes)."""
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def iou(a: Box, b: Box) -> float:
    """Intersection over union."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def expand_and_clip(b: Box, margin: float, width: int, height: int) -> Box:
    """Grow by `margin` (fraction of size) on each side and clip to the image."""
    mx, my = (b[2] - b[0]) * margin, (b[3] - b[1]) * margin
    return (
        max(0.0, b[0] - mx),
        max(0.0, b[1] - my),
        min(float(width), b[2] + mx),
        min(float(height), b[3] + my),
    )
