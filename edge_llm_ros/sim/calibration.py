"""Camera intrinsics and the radar-to-camera extrinsic of the sample vehicle.

Frames (REP-103 / REP-105):
- `radar_link`: x forward, y left, z up; origin at the front-bumper radar, 0.5 m above the road,
  on the vehicle centre line. Radar tracks are expressed here.
- `camera_optical_frame`: z forward (optical axis), x right, y down; origin at the camera's
  optical centre behind the windscreen.

The extrinsic is stored as the pose of `camera_optical_frame` in `radar_link`, the way
`static_transform_publisher` takes it (parent radar_link, child camera_optical_frame):
translation (x, y, z) = (-1.8, 0.0, 0.8) m, i.e. 1.8 m behind and 0.8 m above the radar (camera
1.3 m above the road), and rotation rpy = (-pi/2, 0, -pi/2) (fixed-axis roll, pitch, yaw; the usual
link -> optical rotation, no mounting tilt). A point maps as

    p_radar = R(rpy) @ p_cam + t        p_cam = R(rpy).T @ (p_radar - t)

and `Extrinsic.camera_from_radar` is the 4x4 homogeneous form of the second equation:

    [[0, -1, 0, 0], [0, 0, -1, 0.8], [1, 0, 0, 1.8], [0, 0, 0, 1]]

The fusion node's parameter `radar_to_camera` uses the other direction: the pose of radar_link in
the camera's body frame camera_link (x forward, y left, z up), followed by the fixed body -> optical
rotation. For this vehicle that is translation (1.8, 0.0, -0.8), rpy (0, 0, 0):
`Calibration.fusion_params()` computes it from the extrinsic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

RADAR_FRAME = "radar_link"
CAMERA_FRAME = "camera_optical_frame"
GPS_FRAME = "gps_link"
RADAR_HEIGHT_M = 0.5


def rotation_from_rpy(roll: float, pitch: float, yaw: float) -> FloatArray:
    """R = Rz(yaw) @ Ry(pitch) @ Rx(roll), as tf2 forms it from fixed-axis roll/pitch/yaw."""
    cr, sr = math.cos(roll), math.sin(roll)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return np.asarray(rz @ ry @ rx, dtype=np.float64)


@dataclass(frozen=True)
class PinholeCamera:
    """An undistorted pinhole camera (CameraInfo distortion_model 'plumb_bob', D = 0)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @property
    def k(self) -> FloatArray:
        """The 3x3 intrinsic matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def p(self) -> FloatArray:
        """The 3x4 projection matrix P = [K | 0] of a monocular camera."""
        return np.hstack([self.k, np.zeros((3, 1))])


@dataclass(frozen=True)
class Extrinsic:
    """Pose of the camera optical frame in the radar frame (parent radar, child camera)."""

    translation: tuple[float, float, float]
    rpy: tuple[float, float, float]

    @property
    def rotation(self) -> FloatArray:
        """R such that p_radar = R @ p_cam + t."""
        return rotation_from_rpy(*self.rpy)

    @property
    def camera_from_radar(self) -> FloatArray:
        """4x4 T with p_cam = T @ [p_radar, 1]."""
        rot_t = self.rotation.T
        out = np.eye(4)
        out[:3, :3] = rot_t
        out[:3, 3] = -rot_t @ np.asarray(self.translation)
        return out

    def to_camera(self, points_radar: npt.ArrayLike) -> FloatArray:
        """Transform (N, 3) radar-frame points into the camera optical frame."""
        pts = np.atleast_2d(np.asarray(points_radar, dtype=np.float64))
        tf = self.camera_from_radar
        return np.asarray(pts @ tf[:3, :3].T + tf[:3, 3], dtype=np.float64)


@dataclass(frozen=True)
class Calibration:
    """Intrinsics plus extrinsic: everything needed to project a radar point into the image."""

    camera: PinholeCamera
    extrinsic: Extrinsic

    def project(self, points_radar: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """(N, 2) pixel coordinates (u right, v down) and (N,) depths along the optical axis."""
        cam = self.extrinsic.to_camera(points_radar)
        depth = cam[:, 2]
        safe = np.where(np.abs(depth) < 1e-9, 1e-9, depth)
        u = self.camera.fx * cam[:, 0] / safe + self.camera.cx
        v = self.camera.fy * cam[:, 1] / safe + self.camera.cy
        return np.stack([u, v], axis=1), depth

    def radar_in_camera_link(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """(translation, rpy) of radar_link in camera_link: the fusion node's `radar_to_camera`."""
        # p_optical = B @ p_link; the extrinsic gives p_optical = R.T @ (p_radar - t), hence
        # p_link = M @ p_radar - M @ t with M = B.T @ R.T.
        m = _BODY_TO_OPTICAL.T @ self.extrinsic.rotation.T
        trans = -m @ np.asarray(self.extrinsic.translation)
        rpy = (
            math.atan2(m[2, 1], m[2, 2]),
            -math.asin(float(np.clip(m[2, 0], -1.0, 1.0))),
            math.atan2(m[1, 0], m[0, 0]),
        )
        return _clean(trans), _clean(rpy)

    def fusion_params(self) -> dict[str, Any]:
        """The fusion node's extrinsic parameters (layout of config/traffic.yaml `sensor_fusion`)."""
        translation, rpy = self.radar_in_camera_link()
        return {"radar_to_camera": {"translation": list(translation), "rpy": list(rpy)}}

    def camera_info_k(self) -> list[float]:
        """Row-major K as in sensor_msgs/CameraInfo.k."""
        return [float(v) for v in self.camera.k.ravel()]


_BODY_TO_OPTICAL = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def _clean(values: npt.ArrayLike) -> tuple[float, float, float]:
    """Round away floating-point dust (1e-17, -0.0) so config values read cleanly."""
    a, b, c = (round(float(v), 12) + 0.0 for v in np.asarray(values).ravel())
    return a, b, c


TRAFFIC_CAMERA = PinholeCamera(width=640, height=480, fx=700.0, fy=700.0, cx=320.0, cy=240.0)
TRAFFIC_EXTRINSIC = Extrinsic(translation=(-1.8, 0.0, 0.8), rpy=(-math.pi / 2, 0.0, -math.pi / 2))
TRAFFIC_CALIBRATION = Calibration(TRAFFIC_CAMERA, TRAFFIC_EXTRINSIC)
