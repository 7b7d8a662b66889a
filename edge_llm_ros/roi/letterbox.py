"""Letterboxed, normalised crops written straight into a preallocated batch tensor.

The hot path allocates nothing per frame: resizes go into a reused uint8 canvas and the
normalisation writes into the engine's batch buffer in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from edge_llm_ros.roi.boxes import Box


@dataclass(frozen=True)
class CropSpec:
    """What the classifier wants: square input size, layout, normalisation (0-255 scale)."""

    size: int = 224
    layout: str = "NCHW"
    mean: tuple[float, float, float] = (127.0, 127.0, 127.0)
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)
    pad_value: int = 114


class LetterboxBatch:
    """A (max_batch, ...) float32 tensor filled one ROI at a time."""

    def __init__(self, spec: CropSpec, max_batch: int) -> None:
        if spec.layout not in ("NCHW", "NHWC"):
            raise ValueError(f"unsupported layout {spec.layout!r}")
        self.spec = spec
        s = spec.size
        shape = (max_batch, 3, s, s) if spec.layout == "NCHW" else (max_batch, s, s, 3)
        self.tensor: NDArray[np.float32] = np.zeros(shape, dtype=np.float32)
        self._canvas = np.empty((s, s, 3), dtype=np.uint8)
        self._affine = np.zeros((2, 3), dtype=np.float64)
        self._scale = (1.0 / np.asarray(spec.std, dtype=np.float32)).astype(np.float32)
        self._mean = np.asarray(spec.mean, dtype=np.float32)
        self.count = 0

    @property
    def capacity(self) -> int:
        """Slots in the tensor."""
        return int(self.tensor.shape[0])

    def reset(self) -> None:
        """Start a new batch (no memory is freed or allocated)."""
        self.count = 0

    def add(self, image: NDArray[np.uint8], box: Box) -> int:
        """Letterbox `image[box]` (RGB) into the next slot; returns the slot index."""
        if self.count >= self.capacity:
            raise IndexError("letterbox batch is full")
        h, w = image.shape[:2]
        x1, y1 = int(max(0, box[0])), int(max(0, box[1]))
        x2, y2 = int(min(w, round(box[2]))), int(min(h, round(box[3])))
        if x2 - x1 < 1 or y2 - y1 < 1:
            raise ValueError(f"empty crop {box} in image {w}x{h}")
        crop = image[y1:y2, x1:x2]
        s = self.spec.size
        scale = s / max(crop.shape[0], crop.shape[1])
        ox = (s - crop.shape[1] * scale) / 2
        oy = (s - crop.shape[0] * scale) / 2
        # One affine warp does resize + centring + padding straight into the reused canvas.
        self._affine[0, 0] = self._affine[1, 1] = scale
        self._affine[0, 2], self._affine[1, 2] = ox, oy
        cv2.warpAffine(
            crop,
            self._affine,
            (s, s),
            dst=self._canvas,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(self.spec.pad_value,) * 3,
        )
        slot = self.count
        target = self.tensor[slot]
        if self.spec.layout == "NCHW":
            np.subtract(self._canvas.transpose(2, 0, 1), self._mean[:, None, None], out=target)
            target *= self._scale[:, None, None]
        else:
            np.subtract(self._canvas, self._mean, out=target)
            target *= self._scale
        self.count += 1
        return slot

    def view(self) -> NDArray[np.float32]:
        """The filled part of the tensor (a view, no copy)."""
        return self.tensor[: self.count]
