"""Machined parts for the conveyor scene, drawn with OpenCV as RGBA sprites, with optional defects.

Parts: a turned disc (centre bore, 4 or 6 bolt holes, concentric tool marks) or a brushed plate
(rounded rectangle, four corner holes, rotated). Holes are transparent, so the belt shows through.
Defects (one at most per part):
- scratch        a thin straight gouge: dark line with a bright edge
- missing_hole   one bolt / corner hole was never drilled
- crack          a jagged dark line running in from the outer edge
- dent           a small crater: dark rim on one side, highlight on the other
- discoloration  a soft brown/blue heat-tint patch
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from edge_llm_ros._compat import StrEnum
from edge_llm_ros.sim.photos import texture

Image = npt.NDArray[np.uint8]
Box = tuple[float, float, float, float]


class PartKind(StrEnum):
    """Part shapes."""

    DISC = "disc"
    PLATE = "plate"


class Defect(StrEnum):
    """Defect classes ('none' for a good part)."""

    NONE = "none"
    SCRATCH = "scratch"
    MISSING_HOLE = "missing_hole"
    CRACK = "crack"
    DENT = "dent"
    DISCOLORATION = "discoloration"


@dataclass(frozen=True)
class PartSprite:
    """A drawn part: RGBA pixels and the defect's box in sprite pixel coordinates (None if good)."""

    rgba: Image
    defect_box: Box | None


def _metal(shape: tuple[int, int], rng: np.random.Generator, base: float, streak_axis: int | None) -> np.ndarray:
    """Gray metal surface: base level, fine grain from the gravel texture, optional brushing streaks."""
    h, w = shape
    grain = texture("gravel")
    y0, x0 = int(rng.integers(0, grain.shape[0] - h)), int(rng.integers(0, grain.shape[1] - w))
    surface = base + 4.0 * grain[y0 : y0 + h, x0 : x0 + w]
    if streak_axis is not None:
        noise = rng.normal(0.0, 1.0, shape).astype(np.float32)
        kernel = (31, 1) if streak_axis == 1 else (1, 31)
        surface += 10.0 * cv2.blur(noise, kernel) * 3.0
    return np.asarray(surface, dtype=np.float32)


def _tool_marks(size: int, center: float, radius: float) -> np.ndarray:
    """Concentric turning marks and a soft light gradient for a disc."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.hypot(xx - center, yy - center)
    rings = 6.0 * np.sin(r * 1.7) + 3.0 * np.sin(r * 0.37)
    light = 18.0 * (xx - yy) / (2 * radius)
    return np.asarray(rings + light, dtype=np.float32)


def _box_of(points: npt.ArrayLike, pad: float) -> Box:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return (
        float(pts[:, 0].min() - pad),
        float(pts[:, 1].min() - pad),
        float(pts[:, 0].max() + pad),
        float(pts[:, 1].max() + pad),
    )


def draw_part(kind: PartKind, defect: Defect, rng: np.random.Generator) -> PartSprite:
    """Draw one part with `defect`; all randomness comes from `rng`."""
    if kind is PartKind.DISC:
        rgb, alpha, holes, surface_points, outline = _disc(rng)
    else:
        rgb, alpha, holes, surface_points, outline = _plate(rng)
    defect_box: Box | None = None
    if defect is Defect.MISSING_HOLE:
        hx, hy, hr = holes[int(rng.integers(len(holes)))]
        holes = [h for h in holes if (h[0], h[1]) != (hx, hy)]
        defect_box = (hx - hr - 2, hy - hr - 2, hx + hr + 2, hy + hr + 2)
    for hx, hy, hr in holes:
        cv2.circle(alpha, (round(hx), round(hy)), round(hr), 0, -1, cv2.LINE_AA)
        cv2.circle(rgb, (round(hx), round(hy)), round(hr) + 2, (95, 95, 100), 2, cv2.LINE_AA)
    if defect is Defect.SCRATCH:
        cx, cy = surface_points[int(rng.integers(len(surface_points)))]
        angle = rng.uniform(0, math.pi)
        half = rng.uniform(22, 36)
        p = (round(cx - half * math.cos(angle)), round(cy - half * math.sin(angle)))
        q = (round(cx + half * math.cos(angle)), round(cy + half * math.sin(angle)))
        cv2.line(rgb, p, q, (55, 55, 60), 2, cv2.LINE_AA)
        cv2.line(rgb, (p[0] + 1, p[1] + 2), (q[0] + 1, q[1] + 2), (245, 245, 250), 1, cv2.LINE_AA)
        defect_box = _box_of([p, q], 3)
    elif defect is Defect.CRACK:
        ex, ey, nx, ny = outline[int(rng.integers(len(outline)))]
        points = [(ex, ey)]
        for _ in range(int(rng.integers(6, 10))):
            last = points[-1]
            jitter = rng.normal(0, 0.6)
            dx, dy = nx * math.cos(jitter) - ny * math.sin(jitter), nx * math.sin(jitter) + ny * math.cos(jitter)
            points.append((last[0] + 5.0 * dx, last[1] + 5.0 * dy))
        poly = np.round(np.array(points)).astype(np.int32)
        cv2.polylines(rgb, [poly], False, (25, 22, 20), 2, cv2.LINE_AA)
        defect_box = _box_of(poly, 3)
    elif defect is Defect.DENT:
        cx, cy = surface_points[int(rng.integers(len(surface_points)))]
        radius = rng.uniform(9, 12)
        yy, xx = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]].astype(np.float32)
        d = np.hypot(xx - cx, yy - cy) / radius
        inside = d < 1.0
        # Light from the top left: the crater's far wall is lit, its near wall and floor are in shadow.
        slope = np.where(inside, (xx - cx + yy - cy) / radius * (1.0 - d**2), 0.0)
        floor = np.where(inside, 1.0 - d**2, 0.0)
        shade = 110.0 * slope - 45.0 * floor
        rgb[:] = np.clip(rgb.astype(np.float32) + shade[..., None], 0, 255).astype(np.uint8)
        defect_box = (cx - radius, cy - radius, cx + radius, cy + radius)
    elif defect is Defect.DISCOLORATION:
        cx, cy = surface_points[int(rng.integers(len(surface_points)))]
        radius = rng.uniform(14, 22)
        tint = np.array([150, 95, 40] if rng.random() < 0.5 else [70, 90, 170], np.float32)
        yy, xx = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]].astype(np.float32)
        weight = np.clip(1.0 - np.hypot(xx - cx, yy - cy) / radius, 0, 1)[..., None] * 0.65
        rgb[:] = np.clip(rgb * (1 - weight) + tint * weight, 0, 255).astype(np.uint8)
        defect_box = (cx - radius, cy - radius, cx + radius, cy + radius)
    return PartSprite(np.dstack([rgb, alpha]).astype(np.uint8), defect_box)


# A shape returns rgb, alpha, holes [(x, y, r)], surface points for defects, outline points with
# inward normals [(x, y, nx, ny)].
_Holes = list[tuple[float, float, float]]
_Outline = list[tuple[float, float, float, float]]
_Shape = tuple[Image, Image, _Holes, list[tuple[float, float]], _Outline]


def _disc(rng: np.random.Generator) -> _Shape:
    radius = float(rng.uniform(48, 64))
    size = int(2 * radius + 8)
    c = size / 2
    base = _metal((size, size), rng, float(rng.uniform(165, 195)), None) + _tool_marks(size, c, radius)
    rgb = np.repeat(np.clip(base, 0, 255)[..., None], 3, axis=2).astype(np.uint8)
    alpha = np.zeros((size, size), np.uint8)
    cv2.circle(alpha, (round(c), round(c)), round(radius), 255, -1, cv2.LINE_AA)
    cv2.circle(rgb, (round(c), round(c)), round(radius) - 1, (120, 120, 126), 2, cv2.LINE_AA)
    n_bolts = 4 if rng.random() < 0.5 else 6
    phase = rng.uniform(0, 2 * math.pi)
    cv2.circle(alpha, (round(c), round(c)), round(0.22 * radius), 0, -1, cv2.LINE_AA)
    cv2.circle(rgb, (round(c), round(c)), round(0.22 * radius) + 2, (95, 95, 100), 2, cv2.LINE_AA)
    holes = [
        (
            c + 0.64 * radius * math.cos(phase + 2 * math.pi * k / n_bolts),
            c + 0.64 * radius * math.sin(phase + 2 * math.pi * k / n_bolts),
            0.09 * radius,
        )
        for k in range(n_bolts)
    ]
    # Defects sit on the bolt circle halfway between two bolt holes, where there is most material.
    surface = [
        (
            c + 0.64 * radius * math.cos(phase + math.pi * (2 * k + 1) / n_bolts),
            c + 0.64 * radius * math.sin(phase + math.pi * (2 * k + 1) / n_bolts),
        )
        for k in range(n_bolts)
    ]
    outline = [
        (c + (radius - 1) * math.cos(a), c + (radius - 1) * math.sin(a), -math.cos(a), -math.sin(a))
        for a in np.linspace(0, 2 * math.pi, 16, endpoint=False)
    ]
    # The bore is cut here, so only bolt holes are candidates for the missing-hole defect.
    return rgb, alpha, holes, surface, outline


def _plate(rng: np.random.Generator) -> _Shape:
    w, h = float(rng.uniform(120, 150)), float(rng.uniform(80, 100))
    angle = float(rng.uniform(-20, 20))
    size = int(math.hypot(w, h) + 8)
    c = size / 2
    base = _metal((size, size), rng, float(rng.uniform(150, 185)), 1)
    rgb = np.repeat(np.clip(base, 0, 255)[..., None], 3, axis=2).astype(np.uint8)
    rot = cv2.getRotationMatrix2D((c, c), angle, 1.0)

    def place(px: float, py: float) -> tuple[float, float]:
        x, y = rot @ np.array([c + px, c + py, 1.0])
        return float(x), float(y)

    corner = 9.0
    alpha = np.zeros((size, size), np.uint8)
    inner = [place(sx * (w / 2 - corner), sy * (h / 2 - corner)) for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    edge_a = [place(sx * w / 2, sy * (h / 2 - corner)) for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    edge_b = [place(sx * (w / 2 - corner), sy * h / 2) for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    cv2.fillConvexPoly(alpha, np.round(np.array(edge_a) * 16).astype(np.int32), 255, cv2.LINE_AA, 4)
    cv2.fillConvexPoly(alpha, np.round(np.array(edge_b) * 16).astype(np.int32), 255, cv2.LINE_AA, 4)
    for x, y in inner:
        cv2.circle(alpha, (round(x), round(y)), round(corner), 255, -1, cv2.LINE_AA)
    holes = [(*place(sx * (w / 2 - 16), sy * (h / 2 - 16)), 6.0) for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    surface = [place(fx * w / 2, fy * h / 2) for fx in (-0.35, 0.0, 0.35) for fy in (-0.3, 0.0, 0.3)]
    outline: list[tuple[float, float, float, float]] = []
    for fx in (-0.3, 0.0, 0.3):
        for sy in (-1, 1):
            x, y = place(fx * w, sy * (h / 2 - 1))
            nx, ny = rot[:, :2] @ np.array([0.0, -float(sy)])
            outline.append((x, y, float(nx), float(ny)))
    return rgb, alpha, holes, surface, outline
