"""Real photos and textures from scikit-image's bundled data, cut into RGBA sprites.

Only images that ship inside the scikit-image wheel are used (astronaut, chelsea, coffee, rocket,
the Middlebury stereo motorcycle, and the gravel, grass and brick textures), so nothing is
downloaded. Each sprite is chosen so that an ImageNet classifier sees a real photo of its class
in an ROI crop:

- person: the astronaut portrait (upper body) above drawn trousers, so the sprite has a walking
  person's proportions;
- motorcycle: motorcycle_left, cut out with a mask from the bundled disparity map (the bike stands
  in front of the garage floor plane, so its disparity exceeds the floor's);
- animal: chelsea (a cat);
- billboards (negatives / clutter, never radar-tracked): coffee and rocket.

Cars, trucks and bicycles have no photo in the bundle; the renderer draws them (render.py).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import numpy.typing as npt
from skimage import data as skdata

Image = npt.NDArray[np.uint8]


def _rgba(rgb: Image, alpha: Image) -> Image:
    return np.dstack([rgb, alpha]).astype(np.uint8)


def _feathered_alpha(height: int, width: int, border: int) -> Image:
    """Opaque rectangle whose outer `border` pixels fade out, so pasted photos have no hard seam."""
    alpha = np.zeros((height, width), np.float32)
    alpha[border:-border, border:-border] = 1.0
    soft = cv2.blur(alpha, (2 * border + 1, 2 * border + 1))
    return np.asarray(np.clip(soft * 255.0, 0, 255), dtype=np.uint8)


@functools.cache
def person_sprite() -> Image:
    """RGBA 240x600 pedestrian: astronaut upper body (55 %) above drawn legs (45 %)."""
    width, height = 240, 600
    upper_h = int(height * 0.55)
    portrait = skdata.astronaut()[10:512, 15:390]
    upper = cv2.resize(portrait, (width, upper_h), interpolation=cv2.INTER_AREA)
    rgb = np.zeros((height, width, 3), np.uint8)
    alpha = np.zeros((height, width), np.uint8)
    rgb[:upper_h] = upper
    alpha[:upper_h] = 255
    trousers = (45, 52, 78)
    leg_w = int(width * 0.3)
    for left in (int(width * 0.16), int(width * 0.54)):
        cv2.rectangle(rgb, (left, upper_h), (left + leg_w, height - 24), trousers, -1)
        cv2.rectangle(alpha, (left, upper_h), (left + leg_w, height - 24), 255, -1)
        cv2.rectangle(rgb, (left - 6, height - 24), (left + leg_w + 10, height - 1), (25, 22, 20), -1)
        cv2.rectangle(alpha, (left - 6, height - 24), (left + leg_w + 10, height - 1), 255, -1)
    # Fill the crotch so the legs join the torso like trousers do.
    cv2.rectangle(rgb, (int(width * 0.16), upper_h), (int(width * 0.84), upper_h + 40), trousers, -1)
    cv2.rectangle(alpha, (int(width * 0.16), upper_h), (int(width * 0.84), upper_h + 40), 255, -1)
    return _rgba(rgb, alpha)


@functools.cache
def motorcycle_sprite() -> Image:
    """RGBA side view of the Middlebury motorcycle, background removed via the disparity map."""
    left, _right, disparity = skdata.stereo_motorcycle()
    disp = np.where(np.isfinite(disparity), disparity, 0.0).astype(np.float64)
    rows, cols = np.mgrid[0 : disp.shape[0], 0 : disp.shape[1]]
    # Fit the floor plane d = a*row + b*col + c on image regions that only show floor.
    floor = np.zeros(disp.shape, bool)
    floor[300:, :110] = True
    floor[460:, :] = True
    floor[300:, 690:] = True
    floor &= disp > 0
    design = np.c_[rows[floor], cols[floor], np.ones(int(floor.sum()))]
    coef, *_ = np.linalg.lstsq(design, disp[floor], rcond=None)
    plane = coef[0] * rows + coef[1] * cols + coef[2]
    mask = ((disp > plane + 2.0) & (disp > 30.0)).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    _count, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    mask = cv2.morphologyEx((labels == biggest).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    x, y, w, h = (int(v) for v in stats[biggest, :4])
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (5, 5), 0)[y : y + h, x : x + w]
    return _rgba(left[y : y + h, x : x + w], np.asarray(alpha * 255, dtype=np.uint8))


@functools.cache
def animal_sprite() -> Image:
    """RGBA chelsea the cat, feathered edges."""
    rgb = skdata.chelsea()
    return _rgba(rgb, _feathered_alpha(rgb.shape[0], rgb.shape[1], 6))


@functools.cache
def billboard_photo(name: str) -> Image:
    """RGB photo for a roadside billboard: 'coffee' or 'rocket'."""
    if name == "coffee":
        return np.asarray(skdata.coffee(), dtype=np.uint8)
    if name == "rocket":
        return np.asarray(skdata.rocket(), dtype=np.uint8)
    raise ValueError(f"no billboard photo {name!r}")


@functools.cache
def texture(name: str) -> npt.NDArray[np.float32]:
    """A grayscale 512x512 texture ('gravel', 'grass', 'brick') scaled to zero mean, unit std."""
    loaders = {"gravel": skdata.gravel, "grass": skdata.grass, "brick": skdata.brick}
    img = np.asarray(loaders[name](), dtype=np.float32)
    return np.asarray((img - img.mean()) / (img.std() + 1e-6), dtype=np.float32)
