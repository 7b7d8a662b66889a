"""Axis-aligned box helpers (x1, y1, x2, y2 in pixels): the one home of IoU, for one pair and for arrays."""

from __future__ import annotations

import numpy as np

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


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a [N, 4] against every box in b [M, 4] (x1, y1, x2, y2)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def expand_and_clip(b: Box, margin: float, width: int, height: int) -> Box:
    """Grow by `margin` (fraction of size) on each side and clip to the image."""
    mx, my = (b[2] - b[0]) * margin, (b[3] - b[1]) * margin
    return (
        max(0.0, b[0] - mx),
        max(0.0, b[1] - my),
        min(float(width), b[2] + mx),
        min(float(height), b[3] + my),
    )
