"""Compositing: paste photo sprites and draw box-shaped vehicles, keeping a per-pixel object id map.

The id map lets the ground truth say how much of each object is really visible (occlusion by
nearer objects, truncation at the image border) without a second render.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from edge_llm_ros.sim.calibration import Calibration

Image = npt.NDArray[np.uint8]
Color = tuple[int, int, int]
Box = tuple[float, float, float, float]

MIN_DEPTH_M = 0.5


class Canvas:
    """An RGB frame plus an int32 map of which object (id > 0) owns each pixel."""

    def __init__(self, rgb: Image) -> None:
        """Take ownership of `rgb` (H, W, 3 uint8)."""
        self.rgb = rgb
        self.height, self.width = rgb.shape[:2]
        self.ids = np.zeros((self.height, self.width), np.int32)
        self.painted: dict[int, int] = {}

    def _claim(self, obj_id: int, mask: npt.NDArray[np.bool_], y0: int, x0: int) -> None:
        region = self.ids[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]]
        region[mask] = obj_id
        self.painted[obj_id] = self.painted.get(obj_id, 0) + int(mask.sum())

    def paste(self, obj_id: int, sprite: Image, box: Box, *, flip: bool = False) -> None:
        """Resize an RGB or RGBA sprite to fill `box` (x0, y0, x1, y1, pixels) and alpha-blend it."""
        x0, y0 = round(box[0]), round(box[1])
        w, h = max(1, round(box[2]) - x0), max(1, round(box[3]) - y0)
        cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(self.width, x0 + w), min(self.height, y0 + h)
        if cx1 <= cx0 or cy1 <= cy0 or w > 8 * self.width or h > 8 * self.height:
            return
        shrink = w < sprite.shape[1] or h < sprite.shape[0]
        resized = cv2.resize(sprite, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        if flip:
            resized = resized[:, ::-1]
        part = resized[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        target = self.rgb[cy0:cy1, cx0:cx1]
        if part.shape[2] == 4:
            alpha = part[:, :, 3:4].astype(np.float32) / 255.0
            blended = part[:, :, :3].astype(np.float32) * alpha + target.astype(np.float32) * (1.0 - alpha)
            target[:] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
            self._claim(obj_id, alpha[:, :, 0] > 0.5, cy0, cx0)
        else:
            target[:] = part
            self._claim(obj_id, np.ones(part.shape[:2], bool), cy0, cx0)

    def polygon(self, obj_id: int, points: npt.ArrayLike, color: Color) -> None:
        """Fill a convex polygon (pixel coordinates) that belongs to object `obj_id`."""
        pts = np.asarray(points, dtype=np.float64)
        if not np.all(np.isfinite(pts)):
            return
        lo = np.floor(pts.min(axis=0)).astype(int)
        hi = np.ceil(pts.max(axis=0)).astype(int) + 1
        x0, y0 = max(0, lo[0]), max(0, lo[1])
        x1, y1 = min(self.width, hi[0]), min(self.height, hi[1])
        if x1 <= x0 or y1 <= y0:
            return
        # Fixed-point coordinates (4 fractional bits) keep sub-pixel placement of far objects.
        fixed = np.round(pts * 16).astype(np.int32)
        cv2.fillConvexPoly(self.rgb, fixed, color, lineType=cv2.LINE_AA, shift=4)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, fixed - np.array([x0 * 16, y0 * 16], np.int32), 1, shift=4)
        self._claim(obj_id, mask.astype(bool), y0, x0)

    def detail(self, points: npt.ArrayLike, color: Color) -> None:
        """Paint a convex polygon inside an object already drawn (windows, lights): no id change."""
        pts = np.asarray(points, dtype=np.float64)
        if np.all(np.isfinite(pts)):
            cv2.fillConvexPoly(self.rgb, np.round(pts * 16).astype(np.int32), color, lineType=cv2.LINE_AA, shift=4)

    def visible_pixels(self) -> dict[int, int]:
        """Object id -> pixels it owns in the final frame."""
        counts = np.bincount(self.ids.ravel())
        return {int(i): int(c) for i, c in enumerate(counts) if i > 0 and c > 0}


def cuboid_corners(center: Sequence[float], size: Sequence[float]) -> npt.NDArray[np.float64]:
    """The 8 corners of an axis-aligned box in the radar frame, index bits = (x, y, z) high/low."""
    c = np.asarray(center, dtype=np.float64)
    half = np.asarray(size, dtype=np.float64) / 2.0
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
    return np.asarray(c + signs * half, dtype=np.float64)


def projected_box(calib: Calibration, center: Sequence[float], size: Sequence[float]) -> Box | None:
    """Unclipped pixel box (x0, y0, x1, y1) of a radar-frame cuboid; None if any corner is behind the camera."""
    uv, depth = calib.project(cuboid_corners(center, size))
    if np.any(depth < MIN_DEPTH_M):
        return None
    return float(uv[:, 0].min()), float(uv[:, 1].min()), float(uv[:, 0].max()), float(uv[:, 1].max())


def clip_box(box: Box, width: int, height: int) -> Box | None:
    """`box` clipped to the image; None when nothing of it is inside."""
    x0, y0 = max(0.0, box[0]), max(0.0, box[1])
    x1, y1 = min(float(width), box[2]), min(float(height), box[3])
    if x1 - x0 < 1.0 or y1 - y0 < 1.0:
        return None
    return x0, y0, x1, y1


def _shade(color: Color, factor: float) -> Color:
    return (
        int(np.clip(color[0] * factor, 0, 255)),
        int(np.clip(color[1] * factor, 0, 255)),
        int(np.clip(color[2] * factor, 0, 255)),
    )


def _rect(face: Box, fx0: float, fy0: float, fx1: float, fy1: float) -> list[tuple[float, float]]:
    """Sub-rectangle of a screen-aligned face, in fractions of its width and height (y from top)."""
    x0, y0, x1, y1 = face
    w, h = x1 - x0, y1 - y0
    return [
        (x0 + fx0 * w, y0 + fy0 * h),
        (x0 + fx1 * w, y0 + fy0 * h),
        (x0 + fx1 * w, y0 + fy1 * h),
        (x0 + fx0 * w, y0 + fy1 * h),
    ]


def draw_vehicle(
    canvas: Canvas,
    obj_id: int,
    calib: Calibration,
    center: Sequence[float],
    size: Sequence[float],
    color: Color,
    style: str,
) -> None:
    """Draw a car or truck as a shaded box.

    The face towards the camera gets its details (windows, lights, plate, tyres) and the side face
    the camera can see is drawn darker. `style` is 'car_rear', 'car_front' (oncoming) or 'truck_rear'.
    """
    corners = cuboid_corners(center, size)
    uv, depth = calib.project(corners)
    if np.any(depth < MIN_DEPTH_M):
        return
    # Corner index = 4*xi + 2*yi + zi with 0 = low, 1 = high along each radar axis.
    cam_y = calib.extrinsic.translation[1]
    ymin, ymax = center[1] - size[1] / 2, center[1] + size[1] / 2
    side_yi = 0 if ymin > cam_y else (1 if ymax < cam_y else None)
    if side_yi is not None:
        near_bottom, far_bottom = uv[2 * side_yi], uv[4 + 2 * side_yi]
        near_top, far_top = uv[2 * side_yi + 1], uv[4 + 2 * side_yi + 1]

        def side(a: float, b: float) -> npt.NDArray[np.float64]:
            bottom = near_bottom + a * (far_bottom - near_bottom)
            top = near_top + a * (far_top - near_top)
            return np.asarray(bottom + b * (top - bottom), dtype=np.float64)

        canvas.polygon(obj_id, [near_bottom, far_bottom, far_top, near_top], _shade(color, 0.72))
        if style.startswith("car"):
            canvas.detail([side(0.18, 0.62), side(0.82, 0.62), side(0.78, 0.93), side(0.25, 0.93)], (52, 60, 70))
        else:
            canvas.detail([side(0.3, 0.05), side(1.0, 0.05), side(1.0, 0.12), side(0.3, 0.12)], (40, 40, 40))
        radius = 0.33 / size[2]
        for along in (0.17, 0.8):
            ring = [
                side(along + radius * size[2] / size[0] * math.cos(t), 0.02 + radius * (1 + math.sin(t)))
                for t in np.linspace(0, 2 * math.pi, 14, endpoint=False)
            ]
            canvas.detail(ring, (18, 18, 18))
    # Face towards the camera: x low (rear of a car ahead, front of an oncoming one); it is parallel
    # to the image plane, so it projects to a screen-aligned rectangle.
    face_uv = uv[[0, 1, 2, 3]]
    face: Box = (
        float(face_uv[:, 0].min()),
        float(face_uv[:, 1].min()),
        float(face_uv[:, 0].max()),
        float(face_uv[:, 1].max()),
    )
    if style.startswith("car"):
        _draw_car_face(canvas, obj_id, face, color, rear=style == "car_rear")
        return
    canvas.polygon(obj_id, _rect(face, 0, 0, 1, 1), color)
    # truck_rear: a box body with two doors, lights and an under-run bar
    canvas.detail(_rect(face, 0.495, 0.02, 0.505, 0.8), _shade(color, 0.5))
    for row in (0.2, 0.4, 0.6):
        canvas.detail(_rect(face, 0.02, row, 0.98, row + 0.012), _shade(color, 0.8))
    canvas.detail(_rect(face, 0.44, 0.42, 0.48, 0.5), (60, 60, 60))
    canvas.detail(_rect(face, 0.52, 0.42, 0.56, 0.5), (60, 60, 60))
    canvas.detail(_rect(face, 0.0, 0.8, 1.0, 0.86), (40, 40, 40))
    canvas.detail(_rect(face, 0.03, 0.82, 0.15, 0.85), (210, 25, 25))
    canvas.detail(_rect(face, 0.85, 0.82, 0.97, 0.85), (210, 25, 25))
    canvas.detail(_rect(face, 0.05, 0.86, 0.3, 1.0), (15, 15, 15))
    canvas.detail(_rect(face, 0.7, 0.86, 0.95, 1.0), (15, 15, 15))


def _draw_car_face(canvas: Canvas, obj_id: int, face: Box, color: Color, *, rear: bool) -> None:
    """Draw a car seen from behind (or, `rear=False`, from the front).

    Wide body, narrower glass cabin, tyres at the bottom corners, dark underside between them.
    """
    x0, y0, x1, y1 = face
    w, h = x1 - x0, y1 - y0

    def pt(fx: float, fy: float) -> tuple[float, float]:
        return x0 + fx * w, y0 + fy * h

    dark = (14, 14, 14)
    canvas.polygon(obj_id, _rect(face, 0.06, 0.86, 0.27, 1.0), dark)
    canvas.polygon(obj_id, _rect(face, 0.73, 0.86, 0.94, 1.0), dark)
    canvas.polygon(obj_id, [pt(0.0, 0.5), pt(1.0, 0.5), pt(1.0, 0.88), pt(0.0, 0.88)], color)
    canvas.polygon(obj_id, [pt(0.02, 0.42), pt(0.98, 0.42), pt(1.0, 0.5), pt(0.0, 0.5)], color)
    canvas.polygon(obj_id, [pt(0.2, 0.0), pt(0.8, 0.0), pt(0.93, 0.42), pt(0.07, 0.42)], _shade(color, 0.9))
    glass = (40, 48, 58) if rear else (64, 78, 92)
    canvas.detail([pt(0.23, 0.05), pt(0.77, 0.05), pt(0.87, 0.38), pt(0.13, 0.38)], glass)
    canvas.detail([pt(0.25, 0.07), pt(0.45, 0.07), pt(0.3, 0.36), pt(0.16, 0.36)], _shade(glass, 1.5))
    canvas.detail(_rect(face, 0.02, 0.43, 0.98, 0.47), _shade(color, 1.25))
    canvas.detail(_rect(face, 0.0, 0.76, 1.0, 0.88), _shade(color, 0.45))
    canvas.detail(_rect(face, 0.28, 0.88, 0.72, 0.97), (30, 30, 32))
    lamp = (205, 25, 25) if rear else (245, 240, 215)
    canvas.detail(_rect(face, 0.03, 0.52, 0.2, 0.64), lamp)
    canvas.detail(_rect(face, 0.8, 0.52, 0.97, 0.64), lamp)
    if rear:
        canvas.detail(_rect(face, 0.15, 0.58, 0.2, 0.64), (235, 235, 235))
        canvas.detail(_rect(face, 0.8, 0.58, 0.85, 0.64), (235, 235, 235))
    else:
        canvas.detail(_rect(face, 0.3, 0.55, 0.7, 0.7), (28, 28, 32))
    canvas.detail(_rect(face, 0.38, 0.64 if rear else 0.72, 0.62, 0.74 if rear else 0.8), (235, 235, 228))


@functools.cache
def bicycle_sprite() -> Image:
    """RGBA 400x250 side view of a bicycle (no photo of one ships with scikit-image)."""
    rgb = np.zeros((250, 400, 3), np.uint8)
    alpha = np.zeros((250, 400), np.uint8)
    frame_color = (30, 90, 200)

    def line(p: tuple[int, int], q: tuple[int, int], color: Color, thickness: int) -> None:
        cv2.line(rgb, p, q, color, thickness, cv2.LINE_AA)
        cv2.line(alpha, p, q, 255, thickness, cv2.LINE_AA)

    for cx in (80, 320):
        for k in range(18):
            t = k * math.pi / 9
            line((cx, 170), (int(cx + 68 * math.cos(t)), int(170 + 68 * math.sin(t))), (170, 170, 175), 2)
        cv2.circle(rgb, (cx, 170), 72, (150, 150, 155), 5, cv2.LINE_AA)
        cv2.circle(alpha, (cx, 170), 72, 255, 5, cv2.LINE_AA)
        cv2.circle(rgb, (cx, 170), 76, (20, 20, 20), 8, cv2.LINE_AA)
        cv2.circle(alpha, (cx, 170), 76, 255, 8, cv2.LINE_AA)
        cv2.circle(rgb, (cx, 170), 7, (120, 120, 120), -1)
        cv2.circle(alpha, (cx, 170), 7, 255, -1)
    bracket, seat, head = (190, 170), (165, 75), (295, 80)
    for p, q in ((bracket, seat), (seat, head), (bracket, head), (bracket, (80, 170)), ((170, 85), (80, 170))):
        line(p, q, frame_color, 9)
    line(head, (320, 170), (60, 60, 70), 7)
    line(head, (290, 45), (60, 60, 70), 7)
    line((272, 45), (318, 38), (30, 30, 30), 8)
    line(seat, (160, 60), (60, 60, 70), 6)
    cv2.ellipse(rgb, (160, 55), (26, 8), 0, 0, 360, (25, 25, 25), -1, cv2.LINE_AA)
    cv2.ellipse(alpha, (160, 55), (26, 8), 0, 0, 360, 255, -1, cv2.LINE_AA)
    cv2.circle(rgb, bracket, 16, (90, 90, 95), -1, cv2.LINE_AA)
    cv2.circle(alpha, bracket, 16, 255, -1, cv2.LINE_AA)
    line(bracket, (205, 200), (50, 50, 50), 6)
    return np.dstack([rgb, alpha]).astype(np.uint8)
