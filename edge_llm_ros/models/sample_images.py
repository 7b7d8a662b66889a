"""Real photos bundled with scikit-image, and deterministic crops of them.

Used for INT8 calibration, golden inputs and benchmarks: real image statistics, never random
tensors, and nothing downloaded (these files ship inside the scikit-image wheel).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from skimage import data as skdata


def _gray(img: np.ndarray) -> np.ndarray:
    return np.repeat(img[:, :, None], 3, axis=2)


# name -> loader returning HxWx3 uint8 RGB. Photos are natural scenes; textures widen calibration ranges.
PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": skdata.astronaut,
    "chelsea": skdata.chelsea,
    "coffee": skdata.coffee,
    "motorcycle_left": lambda: skdata.stereo_motorcycle()[0],
    "motorcycle_right": lambda: skdata.stereo_motorcycle()[1],
    "rocket": skdata.rocket,
    "hubble_deep_field": skdata.hubble_deep_field,
    "retina": lambda: skdata.retina()[:, :, :3],
}
TEXTURES: dict[str, Callable[[], np.ndarray]] = {
    "camera": lambda: _gray(skdata.camera()),
    "grass": lambda: _gray(skdata.grass()),
    "gravel": lambda: _gray(skdata.gravel()),
    "brick": lambda: _gray(skdata.brick()),
}


def load_image(name: str) -> np.ndarray:
    """One bundled image as contiguous HxWx3 uint8 RGB."""
    loader = PHOTOS.get(name) or TEXTURES.get(name)
    if loader is None:
        raise KeyError(f"unknown sample image {name!r}; known: {sorted(PHOTOS) + sorted(TEXTURES)}")
    img = np.asarray(loader())
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img[:, :, :3])


def random_crops(
    names: Sequence[str],
    count: int,
    seed: int,
    min_scale: float = 0.3,
    jitter: bool = True,
) -> list[np.ndarray]:
    """`count` crops (HWC uint8) of the named images: random size/aspect/position, flips, brightness.

    Deterministic for a given seed; different seeds give disjoint-in-practice crop sets (calibration
    uses one seed, held-out evaluation another).
    """
    rng = np.random.default_rng(seed)
    images = [load_image(n) for n in names]
    crops: list[np.ndarray] = []
    for _ in range(count):
        img = images[int(rng.integers(len(images)))]
        h, w = img.shape[:2]
        scale = rng.uniform(min_scale, 1.0)
        ch = max(8, int(h * scale))
        cw = max(8, min(w, int(w * scale * rng.uniform(0.75, 1.33))))
        y = int(rng.integers(0, h - ch + 1))
        x = int(rng.integers(0, w - cw + 1))
        crop = img[y : y + ch, x : x + cw]
        if jitter:
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            gain = rng.uniform(0.8, 1.2)
            crop = np.clip(crop.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        crops.append(np.ascontiguousarray(crop))
    return crops


def fixed_crops(names: Sequence[str]) -> list[tuple[str, np.ndarray]]:
    """A few fixed crops of each named image (full, centre 80 %/60 %, left/right halves), labelled."""
    out: list[tuple[str, np.ndarray]] = []
    for name in names:
        img = load_image(name)
        h, w = img.shape[:2]
        boxes = {
            "full": (0, 0, w, h),
            "center80": (w // 10, h // 10, w - w // 10, h - h // 10),
            "center60": (w // 5, h // 5, w - w // 5, h - h // 5),
            "left": (0, 0, w // 2 + w // 8, h),
            "right": (w // 2 - w // 8, 0, w, h),
        }
        for label, (x1, y1, x2, y2) in boxes.items():
            out.append((f"{name}:{label}", np.ascontiguousarray(img[y1:y2, x1:x2])))
    return out
