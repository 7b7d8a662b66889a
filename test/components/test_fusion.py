import math

import numpy as np
import pytest

from edge_llm_ros.fusion.collector import FusionConfig, RadarTrackInput, SensorFusion
from edge_llm_ros.fusion.geometry import PinholeCamera, RadarToCamera, box_from_extent
from edge_llm_ros.fusion.gps import bearing_deg, haversine_m
from edge_llm_ros.fusion.scene import FusedScene, SceneDecodeError

K = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]
MS = 1_000_000


def car(track: str, x: float, y: float, vx: float) -> RadarTrackInput:
    return RadarTrackInput(track, 2, (x, y, 0.0), (vx, 0.0, 0.0), (4.5, 1.8, 1.5))


@pytest.fixture
def fusion() -> SensorFusion:
    f = SensorFusion(FusionConfig(lane_half_width_m=1.8))
    assert f.set_camera_info(K, 640, 480)
    return f


def test_projection_of_point_ahead_hits_principal_point() -> None:
    cam = PinholeCamera.from_k(K, 640, 480)
    uv = cam.project(RadarToCamera().transform(np.array([[10.0, 0.0, 0.0]])))
    assert uv[0] == pytest.approx([320.0, 240.0])
    left = cam.project(RadarToCamera().transform(np.array([[10.0, 2.0, 0.0]])))
    assert left[0, 0] < 320.0  # REP-103: +y is left, which is image left


def test_box_contains_projected_centre_and_shrinks_with_range() -> None:
    cam = PinholeCamera.from_k(K, 640, 480)
    near = box_from_extent(cam, RadarToCamera(), np.array([10.0, 0.0, 0.0]), np.array([4.5, 1.8, 1.5]))
    far = box_from_extent(cam, RadarToCamera(), np.array([40.0, 0.0, 0.0]), np.array([4.5, 1.8, 1.5]))
    assert near is not None and far is not None
    assert near[0] < 320 < near[2] and near[1] < 240 < near[3]
    assert (far[2] - far[0]) < (near[2] - near[0])
    assert box_from_extent(cam, RadarToCamera(), np.array([-10.0, 0.0, 0.0]), np.array([4.5, 1.8, 1.5])) is None


def test_fuses_nearest_radar_and_computes_ttc(fusion: SensorFusion) -> None:
    fusion.add_radar(950 * MS, [car("a", 30.0, 0.0, -10.0)])
    fusion.add_radar(1000 * MS, [car("a", 20.0, 0.0, -10.0), car("b", 15.0, 5.0, 2.0)])
    fusion.add_gps(900 * MS, 48.0, 11.0, 500.0, 0)
    fusion.add_gps(1000 * MS, 48.0001, 11.0, 500.0, 0)
    scene = fusion.fuse(1010 * MS, 640, 480, "rgb8", frame_id="cam")
    assert scene is not None and scene.radar_stamp_ns == 1000 * MS and scene.camera == "cam"
    a = next(o for o in scene.objects if o.track_id == "a")
    assert a.ttc_s == pytest.approx(2.0) and a.in_ego_lane and a.bbox is not None
    b = next(o for o in scene.objects if o.track_id == "b")
    assert b.ttc_s is None and not b.in_ego_lane
    assert scene.ego is not None and scene.ego.speed_mps == pytest.approx(111.2, rel=0.01)
    assert FusedScene.from_json(scene.to_json()) == scene


def test_missing_sensors_still_publish(fusion: SensorFusion) -> None:
    scene = fusion.fuse(1000 * MS, 640, 480, "rgb8")
    assert scene is not None and scene.missing == ["radar", "gps"] and scene.objects == []
    fusion.add_radar(500 * MS, [car("a", 20.0, 0.0, -1.0)])  # 0.5 s before the frame: outside the window
    assert fusion.fuse(1100 * MS, 640, 480, "rgb8").missing == ["radar", "gps"]


def test_bad_inputs_are_rejected_and_counted(fusion: SensorFusion) -> None:
    assert fusion.fuse(1000 * MS, 640, 480, "yuv422") is None
    assert fusion.fuse(1000 * MS, 320, 240, "rgb8") is None
    assert fusion.add_radar(1000 * MS, [RadarTrackInput("n", 0, (math.nan, 0.0, 0.0), (0.0, 0.0, 0.0), (1, 1, 1))])
    assert fusion.add_radar(990 * MS, []) is False  # out of order
    assert fusion.add_gps(1000 * MS, math.inf, 0.0, 0.0, 0) is False
    assert fusion.add_gps(1000 * MS, 48.0, 11.0, 0.0, -1) is False  # STATUS_NO_FIX
    assert fusion.set_camera_info([0.0] * 9, 640, 480) is False
    assert fusion.fuse(1000 * MS, 640, 480, "rgb8") is not None
    assert fusion.fuse(1000 * MS, 640, 480, "rgb8") is None  # same stamp again
    assert fusion.fuse(2000 * MS, 640, 480, "rgb8", now_ns=3000 * MS) is None  # stale
    c = fusion.counters
    assert c["rejected:encoding:yuv422"] == 1 and c["rejected:size_mismatch"] == 1
    assert c["rejected:radar_track_nonfinite"] == 1 and c["dropped_out_of_order:radar"] == 1
    assert c["rejected:gps"] == 2 and c["rejected:camera_info"] == 1
    assert c["dropped_out_of_order:camera"] == 1 and c["dropped_stale:camera"] == 1


def test_scene_decode_errors() -> None:
    with pytest.raises(SceneDecodeError):
        FusedScene.from_json("{not json")
    with pytest.raises(SceneDecodeError, match="schema"):
        FusedScene.from_json('{"schema": "other/1"}')
    with pytest.raises(SceneDecodeError):
        FusedScene.from_json('{"schema": "edge_llm_ros/fused_scene/1", "stamp_ns": 1}')


def test_gps_helpers() -> None:
    assert haversine_m(0.0, 0.0, 0.0, 1.0) == pytest.approx(111_195, rel=1e-3)
    assert bearing_deg(0.0, 0.0, 1.0, 0.0) == pytest.approx(0.0)
    assert bearing_deg(0.0, 0.0, 0.0, 1.0) == pytest.approx(90.0)
