"""Camera geometry and the ground-truth labelling rule on hand-checked numbers."""

from __future__ import annotations

import numpy as np
import pytest

from edge_llm_ros.decision.traffic_rules import WarningLevel
from edge_llm_ros.fusion.geometry import RadarToCamera
from edge_llm_ros.sim import TRAFFIC_CALIBRATION, ObjectClass, assess, class_from_radar
from edge_llm_ros.sim.render import clip_box, projected_box


def test_point_on_the_optical_axis_projects_to_the_principal_point() -> None:
    # The camera sits 1.8 m behind and 0.8 m above the radar: a point 20 m ahead at that height.
    uv, depth = TRAFFIC_CALIBRATION.project([[18.2, 0.0, 0.8]])
    assert uv[0] == pytest.approx([320.0, 240.0])
    assert depth[0] == pytest.approx(20.0)
    # Left in the radar frame (+y) is left in the image (smaller u); up (+z) is up (smaller v).
    ((u, v),) = TRAFFIC_CALIBRATION.project([[18.2, 1.0, 1.8]])[0]
    assert u == pytest.approx(320.0 - 700.0 / 20.0) and v == pytest.approx(240.0 - 700.0 / 20.0)


def test_fusion_params_reproduce_the_extrinsic() -> None:
    params = TRAFFIC_CALIBRATION.fusion_params()["radar_to_camera"]
    fusion = RadarToCamera(tuple(params["translation"]), tuple(params["rpy"]))
    points = np.random.default_rng(0).uniform(-20, 20, (50, 3))
    assert np.allclose(fusion.transform(points), TRAFFIC_CALIBRATION.extrinsic.to_camera(points))
    homogeneous = np.c_[points, np.ones(50)] @ TRAFFIC_CALIBRATION.extrinsic.camera_from_radar.T
    assert np.allclose(homogeneous[:, :3], fusion.transform(points))


def test_projected_box_and_clipping() -> None:
    box = projected_box(TRAFFIC_CALIBRATION, (20.0, 0.0, 0.25), (4.4, 1.8, 1.5))
    assert box is not None and box[0] < 320.0 < box[2] and box[1] < 240.0 < box[3]
    assert projected_box(TRAFFIC_CALIBRATION, (-1.0, 0.0, 0.0), (1.0, 1.0, 1.0)) is None  # behind the camera
    assert clip_box((-50.0, 10.0, 20.0, 30.0), 640, 480) == (0.0, 10.0, 20.0, 30.0)
    assert clip_box((700.0, 10.0, 720.0, 30.0), 640, 480) is None


def test_radar_codes_round_trip() -> None:
    for cls in ObjectClass:
        assert class_from_radar(cls.radar_code) is cls
    assert class_from_radar(2) is None


@pytest.mark.parametrize(
    ("cls", "x", "y", "vx", "vy", "ttc", "lane", "level"),
    [
        (ObjectClass.CAR, 15.0, 0.0, -10.0, 0.0, 1.5, True, WarningLevel.BRAKE),
        (ObjectClass.CAR, 30.0, 0.5, -10.0, 0.0, 3.0, True, WarningLevel.CAUTION),
        (ObjectClass.CAR, 30.0, 3.5, -20.0, 0.0, None, False, WarningLevel.NONE),
        (ObjectClass.PERSON, 40.0, 1.0, -10.0, 0.0, 4.0, True, WarningLevel.CAUTION),
        (ObjectClass.PERSON, 8.0, -6.0, -10.0, 0.0, None, False, WarningLevel.CAUTION),
        (ObjectClass.TRUCK, 20.0, 0.0, 2.0, 0.0, None, True, WarningLevel.NONE),
    ],
)
def test_assess(
    cls: ObjectClass,
    x: float,
    y: float,
    vx: float,
    vy: float,
    ttc: float | None,
    lane: bool,
    level: WarningLevel,
) -> None:
    result = assess(cls, x, y, vx, vy)
    assert result.in_ego_lane is lane
    assert result.level is level
    if ttc is not None:
        assert result.ttc_s == pytest.approx(ttc, rel=2e-3)
    assert (result.ttc_s is None) == (result.range_rate_mps >= -0.1)
