"""Crop -> model input, following a manifest's PreprocessSpec, into preallocated buffers.

    pre = Preprocessor(ref.manifest.preprocess)
    batch = pre.allocate(max_batch=8)             # once
    box = pre.fill(batch, i, crop_rgb_uint8)      # per crop: resize, pad, normalise, lay out in place
    logits = engine.run(batch[:n])[...]

`fill` writes into `batch[i]` without allocating a new batch: the only temporaries are the resized
crop (in a scratch buffer kept by the Preprocessor) and cv2's internal ones. Not thread-safe: use one
Preprocessor per thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge_llm_ros.models.manifest import PreprocessSpec


@dataclass(frozen=True)
class Letterbox:
    """Where a crop landed in the model input: model px = source px * scale + pad."""

    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int

    def to_source(self, x: float, y: float) -> tuple[float, float]:
        """Model-input pixel coordinates -> crop pixel coordinates."""
        return (x - self.pad_x) / self.scale_x, (y - self.pad_y) / self.scale_y


class Preprocessor:
    """Resizes (letterbox or stretch), normalises and lays out HWC uint8 crops per a PreprocessSpec."""

    def __init__(self, spec: PreprocessSpec, source_color_order: str = "RGB") -> None:
        """`source_color_order` is the channel order of the crops given to `fill` (RGB or BGR)."""
        if spec.channels != 3:
            raise ValueError(f"only 3-channel inputs are supported, spec has {spec.channels}")
        self.spec = spec
        self.dtype = np.dtype(spec.dtype)
        self._swap_rb = source_color_order != spec.color_order
        h, w = spec.height, spec.width
        self._canvas = np.full((h, w, 3), spec.pad_value, dtype=np.uint8)
        self._scratch = np.empty(h * w * 3, dtype=np.uint8)
        std = np.asarray(spec.std, dtype=np.float32)
        mean = np.asarray(spec.mean, dtype=np.float32)
        # (x - mean) / std == x * scale + offset: two in-place ops on the output slice.
        self._scale = 1.0 / std
        self._offset = -mean / std
        self._identity = bool(np.all(mean == 0) and np.all(std == 1))
        shape = (3, h, w) if spec.layout == "NCHW" else (h, w, 3)
        self.item_shape: tuple[int, int, int] = shape
        bshape = (3, 1, 1) if spec.layout == "NCHW" else (1, 1, 3)
        self._scale_b = self._scale.reshape(bshape).astype(self.dtype) if self.dtype.kind == "f" else None
        self._offset_b = self._offset.reshape(bshape).astype(self.dtype) if self.dtype.kind == "f" else None

    def allocate(self, max_batch: int) -> np.ndarray:
        """A zeroed [max_batch, ...] input buffer in the model's layout and dtype."""
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        return np.zeros((max_batch, *self.item_shape), dtype=self.dtype)

    def fill(self, out: np.ndarray, index: int, image: np.ndarray) -> Letterbox:
        """Preprocess one HWC uint8 crop into `out[index]`; returns how crop pixels map into it."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 crop, got shape {image.shape} dtype {image.dtype}")
        if out.shape[1:] != self.item_shape or out.dtype != self.dtype:
            raise ValueError(f"output buffer must be [N, {self.item_shape}] {self.dtype}, got {out.shape} {out.dtype}")
        src_h, src_w = image.shape[:2]
        if src_h == 0 or src_w == 0:
            raise ValueError("empty crop")
        canvas, box = self._resize(image, src_h, src_w)
        if self._swap_rb:
            canvas = canvas[:, :, ::-1]
        dst = out[index]
        if self.spec.layout == "NCHW":
            dst[...] = canvas.transpose(2, 0, 1)
        else:
            dst[...] = canvas
        if self.dtype.kind == "f" and not self._identity:
            assert self._scale_b is not None and self._offset_b is not None
            dst *= self._scale_b
            dst += self._offset_b
        return box

    def __call__(self, images: list[np.ndarray]) -> tuple[np.ndarray, list[Letterbox]]:
        """Convenience: a new batch holding all `images` (allocates; use fill() in hot paths)."""
        batch = self.allocate(max(1, len(images)))
        boxes = [self.fill(batch, i, img) for i, img in enumerate(images)]
        return batch[: len(images)], boxes

    def _resize(self, image: np.ndarray, src_h: int, src_w: int) -> tuple[np.ndarray, Letterbox]:
        h, w = self.spec.height, self.spec.width
        if self.spec.resize == "stretch":
            new_w, new_h, pad_x, pad_y = w, h, 0, 0
        else:
            scale = min(w / src_w, h / src_h)
            new_w = max(1, min(w, round(src_w * scale)))
            new_h = max(1, min(h, round(src_h * scale)))
            pad_x, pad_y = (w - new_w) // 2, (h - new_h) // 2
        shrinking = new_w < src_w or new_h < src_h
        interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        resized = self._scratch[: new_h * new_w * 3].reshape(new_h, new_w, 3)
        cv2.resize(np.ascontiguousarray(image), (new_w, new_h), dst=resized, interpolation=interp)
        canvas = self._canvas
        if (new_w, new_h) != (w, h):
            canvas.fill(self.spec.pad_value)
        canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
        return canvas, Letterbox(new_w / src_w, new_h / src_h, pad_x, pad_y)
