"""Camera and radar geometry (REP-103 body frames, REP-105 optical frames).

radar_link: x forward, y left, z up. camera_optical_frame: z forward, x right, y down.
The extrinsic maps radar_link points into camera_optical_frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# Body (x fwd, y left, z up) -> optical (x right, y down, z fwd).
_BODY_TO_OPTICAL = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def rpy_to_matrix(roll: float, pitch: float, yaw: float) -> NDArray[np.float64]:
    """Rotation matrix from roll/pitch/yaw (rad, fixed axes X-Y-Z as in tf2)."""
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch),
                              math.cos(yaw), math.sin(yaw))
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


@dataclass(frozen=True)
class RadarToCamera:
    """Pose of radar_link in the camera's body frame (camera_link), as translation + rpy.

    `translation` is where the radar sits relative to the camera (m, camera_link axes).
    """

    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def transform(self, points_radar: NDArray[np.float64]) -> NDArray[np.float64]:
        """(N,3) radar_link points -> (N,3) camera_optical_frame points."""
        body = points_radar @ rpy_to_matrix(*self.rpy).T + np.asarray(self.translation)
        return body @ _BODY_TO_OPTICAL.T


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics from sensor_msgs/CameraInfo (K, image size); distortion is ignored (rectified)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_k(cls, k: NDArray[np.float64] | list[float], width: int, height: int) -> PinholeCamera:
        """From CameraInfo.k (row-major 3x3)."""
        m = np.asarray(k, dtype=np.float64).reshape(3, 3)
        if not np.all(np.isfinite(m)) or m[0, 0] <= 0 or m[1, 1] <= 0 or width <= 0 or height <= 0:
            raise ValueError(f"invalid camera intrinsics K={m.ravel().tolist()} size={width}x{height}")
        return cls(float(m[0, 0]), float(m[1, 1]), float(m[0, 2]), float(m[1, 2]), int(width), int(height))

    def project(self, points_optical: NDArray[np.float64]) -> NDArray[np.float64]:
        """(N,3) optical-frame points -> (N,2) pixel coordinates; points behind the camera get NaN."""
        z = points_optical[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = self.fx * points_optical[:, 0] / z + self.cx
            v = self.fy * points_optical[:, 1] / z + self.cy
        uv = np.stack([u, v], axis=1)
        uv[z <= 0.1] = np.nan
        return uv


def box_from_extent(
    camera: PinholeCamera, extrinsic: RadarToCamera, center: NDArray[np.float64], size: NDArray[np.float64]
) -> tuple[float, float, float, float] | None:
    """Image bbox (x1, y1, x2, y2), clipped, of a radar box (center, size l/w/h in radar_link).

    The radar reports the centroid; the 8 corners of the object's box are projected and their
    hull is the image box. None when the object is behind the camera or fully outside the image.
    """
    length, width, height = (max(float(s), 0.1) for s in size)
    half = np.array([length, width, height]) / 2
    offsets = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * half
    corners = extrinsic.transform(center[None, :] + offsets)
    uv = camera.project(corners)
    if np.isnan(uv).any():
        return None
    x1, y1 = np.clip(uv.min(axis=0), 0, [camera.width - 1, camera.height - 1])
    x2, y2 = np.clip(uv.max(axis=0), 0, [camera.width - 1, camera.height - 1])
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    return float(x1), float(y1), float(x2), float(y2)
