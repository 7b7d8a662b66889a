"""Synthetic road background seen by the traffic camera: asphalt, lane markings, verge, sky, skyline.

The road is the plane 0.5 m below radar_link (z = -RADAR_HEIGHT_M). Every pixel below the horizon
is cast onto that plane once; per frame only the longitudinal texture coordinate moves with the
ego vehicle, so markings and asphalt grain stream past at the ego speed.

Road layout (lateral y, left positive, same frame as radar tracks): ego lane |y| <= 1.75, an
oncoming lane 1.75..5.25, a same-direction lane -5.25..-1.75, dashed lines at y = +-1.75
(3 m dash every 9 m), solid edge lines at y = +-5.25, grass beyond |y| = 5.5.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from edge_llm_ros.sim.calibration import RADAR_HEIGHT_M, Calibration
from edge_llm_ros.sim.photos import texture

Image = npt.NDArray[np.uint8]

LANE_WIDTH_M = 3.5
ROAD_HALF_WIDTH_M = 5.5
_TEXEL_M = 0.02  # one texel of the road texture covers 2 cm x 2 cm
_TILE_LENGTH_M = 36.0  # road texture repeats every 36 m (a multiple of the 9 m dash period)
_HALF_SPAN_M = 12.0  # lateral extent of the texture; beyond it the verge colour is repeated


def _tiled(tex: npt.NDArray[np.float32], rows: int, cols: int, period_px: int) -> npt.NDArray[np.float32]:
    """`tex` resampled to `period_px` square and tiled to (rows, cols); rows % period_px == 0 keeps it seamless."""
    small = cv2.resize(tex, (period_px, period_px), interpolation=cv2.INTER_AREA)
    reps = (-(-rows // period_px), -(-cols // period_px))
    return np.asarray(np.tile(small, reps)[:rows, :cols], dtype=np.float32)


def road_texture() -> Image:
    """The road seen from above: rows run along s (0.02 m each, 36 m tile), columns along y (left = high)."""
    rows = round(_TILE_LENGTH_M / _TEXEL_M)
    cols = round(2 * _HALF_SPAN_M / _TEXEL_M)
    s = (np.arange(rows) + 0.5)[:, None] * _TEXEL_M
    y = (np.arange(cols) + 0.5)[None, :] * _TEXEL_M - _HALF_SPAN_M
    grain = _tiled(texture("gravel"), rows, cols, 600)
    grass = _tiled(texture("grass"), rows, cols, 600)
    shade = 92.0 + 7.0 * grain
    tex = np.repeat(shade[:, :, None], 3, axis=2)
    y_abs = np.abs(y)
    dashed = (np.abs(y_abs - LANE_WIDTH_M / 2) < 0.07) & (np.mod(s, 9.0) < 3.0)
    solid = np.broadcast_to(np.abs(y_abs - 1.5 * LANE_WIDTH_M) < 0.08, dashed.shape)
    tex[dashed | solid] = 215.0
    verge = np.broadcast_to(y_abs > ROAD_HALF_WIDTH_M, dashed.shape)
    tex[verge] = np.stack([70 + 14 * grass, 105 + 18 * grass, 45 + 10 * grass], axis=-1)[verge]
    return np.asarray(np.clip(tex, 0, 255), dtype=np.uint8)


class RoadRenderer:
    """Renders the empty road for an ego position `s` (metres travelled along the road)."""

    def __init__(self, calib: Calibration, seed: int) -> None:
        """Cast every below-horizon pixel onto the road plane and build the static sky."""
        cam = calib.camera
        self.height, self.width = cam.height, cam.width
        rows, cols = np.mgrid[0 : cam.height, 0 : cam.width].astype(np.float64)
        rays_cam = np.stack([(cols - cam.cx) / cam.fx, (rows - cam.cy) / cam.fy, np.ones_like(rows)], axis=-1)
        rays = rays_cam @ calib.extrinsic.rotation.T
        origin = np.asarray(calib.extrinsic.translation)
        drop = -RADAR_HEIGHT_M - origin[2]
        hits = rays[..., 2] < -1e-6
        scale = np.where(hits, drop / np.where(hits, rays[..., 2], -1.0), 0.0)
        ground = hits & (scale < 400.0)
        ground_rows = np.flatnonzero(ground.any(axis=1))
        self.top = int(ground_rows[0]) if ground_rows.size else cam.height
        self.ground = ground[self.top :]
        x = origin[0] + scale * rays[..., 0]
        y = origin[1] + scale * rays[..., 1]
        self.texture = road_texture()
        tex_rows, tex_cols = self.texture.shape[:2]
        # Texture lookup maps for the rows that show road: x (along s) -> texture row, y -> column.
        self.map_rows = (x[self.top :] / _TEXEL_M).astype(np.float32)
        cols_f = (y[self.top :] + _HALF_SPAN_M) / _TEXEL_M - 0.5
        self.map_cols = np.clip(cols_f, 0, tex_cols - 1).astype(np.float32)
        self.tile_rows = float(tex_rows)
        self.sky = self._sky(seed)

    def _sky(self, seed: int) -> Image:
        rng = np.random.default_rng(seed + 7919)
        rows = np.linspace(0.0, 1.0, self.height)[:, None, None]
        top, low = np.array([70, 120, 200], np.float64), np.array([190, 210, 230], np.float64)
        sky = np.broadcast_to(top + (low - top) * rows, (self.height, self.width, 3)).copy()
        horizon = self.top
        brick = texture("brick")
        col = 0
        while col < self.width:
            width = int(rng.integers(30, 90))
            top_row = horizon - int(rng.integers(12, 55))
            tint = np.array([rng.uniform(120, 190), rng.uniform(100, 150), rng.uniform(90, 130)])
            block = brick[: horizon - top_row, : min(width, self.width - col)]
            sky[top_row:horizon, col : col + block.shape[1]] = tint + 18.0 * block[..., None]
            col += width
        return np.asarray(np.clip(sky, 0, 255), dtype=np.uint8)

    def render(self, s_ego: float) -> Image:
        """A fresh (H, W, 3) rgb8 frame of the road with the ego vehicle at `s_ego` metres."""
        offset = np.float32(np.mod(s_ego / _TEXEL_M, self.tile_rows))
        map_rows = np.mod(self.map_rows + offset, np.float32(self.tile_rows))
        road = cv2.remap(self.texture, self.map_cols, map_rows, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        frame = self.sky.copy()
        below = frame[self.top :]
        below[self.ground] = road[self.ground]
        return frame
