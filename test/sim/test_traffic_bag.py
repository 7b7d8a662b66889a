"""A generated 3 s traffic drive, read back: topics, rates, fields, ground truth vs sensors, determinism."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_llm_ros.bags import BagReader, bag_info
from edge_llm_ros.fusion.geometry import PinholeCamera as FusionCamera
from edge_llm_ros.fusion.geometry import RadarToCamera, box_from_extent
from edge_llm_ros.scenes import synthesize
from edge_llm_ros.sim import TRAFFIC_CALIBRATION, SynthResult
from edge_llm_ros.sim import ground_truth as gt
from edge_llm_ros.sim.road import RoadRenderer
from edge_llm_ros.sim.rules import RADAR_CLASSIFICATION, ObjectClass, assess, class_from_radar, scene_warning

FRAMES = 30  # conftest: a 3 s drive


def _stamp(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def _load(bag: Path) -> dict[str, list[tuple[int, Any]]]:
    out: dict[str, list[tuple[int, Any]]] = {}
    with BagReader(bag) as reader:
        for message, msg in reader.decoded():
            out.setdefault(message.topic, []).append((message.stamp_ns, msg))
    return out


@pytest.fixture(scope="module")
def drive(traffic_bag: SynthResult) -> dict[str, list[tuple[int, Any]]]:
    return _load(traffic_bag.path)


def test_topics_types_counts_rates(traffic_bag: SynthResult) -> None:
    assert traffic_bag.frames == FRAMES
    info = bag_info(traffic_bag.path)
    assert info.storage == "mcap"
    expected = {
        "/camera/image_raw": ("sensor_msgs/msg/Image", FRAMES, 10.0),
        "/camera/camera_info": ("sensor_msgs/msg/CameraInfo", FRAMES, 10.0),
        "/radar/tracks": ("radar_msgs/msg/RadarTracks", 2 * FRAMES, 20.0),
        "/gps/fix": ("sensor_msgs/msg/NavSatFix", FRAMES, 10.0),
        "/ground_truth/scene": ("std_msgs/msg/String", FRAMES, 10.0),
    }
    assert {t.name for t in info.topics} == set(expected)
    for name, (typename, count, rate) in expected.items():
        topic = info.topic(name)
        assert (topic.typename, topic.count) == (typename, count)
        assert topic.rate_hz == pytest.approx(rate)
    assert "edge_llm_ros/faults" not in info.custom_data


def test_camera_messages(drive: dict[str, list[tuple[int, Any]]]) -> None:
    for stamp, image in drive["/camera/image_raw"]:
        assert (image.width, image.height, image.encoding, image.step) == (640, 480, "rgb8", 1920)
        assert image.header.frame_id == "camera_optical_frame"
        assert len(image.data) == 480 * 1920
        assert _stamp(image) == stamp
    _, info = drive["/camera/camera_info"][0]
    assert info.header.frame_id == "camera_optical_frame"
    assert info.k.tolist() == [700.0, 0.0, 320.0, 0.0, 700.0, 240.0, 0.0, 0.0, 1.0]
    assert (info.width, info.height, info.distortion_model) == (640, 480, "plumb_bob")


def test_radar_messages(drive: dict[str, list[tuple[int, Any]]]) -> None:
    codes = set(RADAR_CLASSIFICATION.values())
    seen: Counter[int] = Counter()
    for stamp, radar in drive["/radar/tracks"]:
        assert radar.header.frame_id == "radar_link"
        assert _stamp(radar) == stamp
        for track in radar.tracks:
            assert len(track.uuid.uuid) == 16
            assert track.classification in codes
            values = [track.position.x, track.position.y, track.position.z, track.velocity.x, track.velocity.y]
            assert all(math.isfinite(v) for v in values)
            assert 0.5 < track.position.x < 150.0
            assert abs(math.degrees(math.atan2(track.position.y, track.position.x))) <= 60.0 + 1.0
            assert min(track.size.x, track.size.y, track.size.z) > 0
            seen[track.classification] += 1
    assert (
        seen[ObjectClass.CAR.radar_code] and seen[ObjectClass.TRUCK.radar_code] and seen[ObjectClass.PERSON.radar_code]
    )


def test_gps_progression_matches_speed(drive: dict[str, list[tuple[int, Any]]]) -> None:
    truth = [json.loads(m.data) for _, m in drive["/ground_truth/scene"]]
    speed = truth[0]["ego"]["speed_mps"]
    fixes = drive["/gps/fix"]
    assert all(f.status.status == 0 and f.header.frame_id == "gps_link" for _, f in fixes)
    assert [s - fixes[0][0] for s, _ in fixes[:2]] == [0, 100_000_000]
    radius = 6_371_000.0
    for (s0, a), (s1, b) in itertools.pairwise(fixes):
        north = math.radians(b.latitude - a.latitude) * radius
        east = math.radians(b.longitude - a.longitude) * radius * math.cos(math.radians(a.latitude))
        assert math.hypot(north, east) / ((s1 - s0) / 1e9) == pytest.approx(speed, rel=5e-3)
        heading = math.degrees(math.atan2(east, north)) % 360.0
        assert heading == pytest.approx(truth[0]["ego"]["heading_deg"], abs=0.5)


def test_ground_truth_follows_schema_once_per_frame(drive: dict[str, list[tuple[int, Any]]]) -> None:
    images = [stamp for stamp, _ in drive["/camera/image_raw"]]
    docs = [(stamp, gt.parse(msg.data)) for stamp, msg in drive["/ground_truth/scene"]]
    assert [stamp for stamp, _ in docs] == images
    for index, (stamp, doc) in enumerate(docs):
        assert doc["schema"] == gt.SCHEMA_ID and doc["scene"] == "traffic"
        assert (doc["stamp_ns"], doc["frame_index"], doc["seed"]) == (stamp, index, 0)
        warned = {o["track_id"] for o in doc["objects"] if o["warning"] != "NONE"}
        assert set(doc["warning_track_ids"]) == warned
        assert doc["distractors"] is not None
    with pytest.raises(gt.GroundTruthError):
        gt.parse(json.dumps({"schema": gt.SCHEMA_ID, "scene": "traffic", "stamp_ns": 1, "frame_index": 0, "seed": 0}))


def test_ground_truth_consistent_with_radar_and_image(
    traffic_bag: SynthResult, drive: dict[str, list[tuple[int, Any]]]
) -> None:
    radar_at = {stamp: msg for stamp, msg in drive["/radar/tracks"]}
    image_at = {stamp: msg for stamp, msg in drive["/camera/image_raw"]}
    calib = TRAFFIC_CALIBRATION
    translation, rpy = calib.radar_in_camera_link()
    fusion_camera = FusionCamera.from_k(calib.camera.k.ravel(), 640, 480)
    fusion_extrinsic = RadarToCamera(translation, rpy)
    with BagReader(traffic_bag.path) as reader:
        scenario = json.loads(reader.custom_data["edge_llm_ros/scenario"])
    road = RoadRenderer(calib, seed=0)
    checked = drawn = 0
    for stamp, msg in drive["/ground_truth/scene"]:
        doc = json.loads(msg.data)
        tracks = {bytes(t.uuid.uuid).hex(): t for t in radar_at[stamp].tracks}
        assert set(tracks) == {o["track_id"] for o in doc["objects"]}
        rgb = image_at[stamp].data.reshape(480, 640, 3).astype(np.int16)
        empty = road.render(scenario["ego_speed_mps"] * (stamp - drive["/camera/image_raw"][0][0]) / 1e9)
        for obj in doc["objects"]:
            track = tracks[obj["track_id"]]
            assert class_from_radar(track.classification) == ObjectClass(obj["class"])
            noisy = np.array([track.position.x, track.position.y, track.position.z])
            assert np.linalg.norm(noisy - np.array(obj["position_m"])) < 0.5
            if obj["bbox_xyxy"] is None:
                continue
            x0, y0, x1, y1 = obj["bbox_xyxy"]
            ((u, v),) = calib.project(noisy[None, :])[0]
            inside_image = x0 > 0 and y0 > 0 and x1 < 640 and y1 < 480
            if inside_image:
                # The radar centroid projects inside the ground-truth box ...
                assert x0 <= u <= x1 and y0 <= v <= y1
                # ... and fusion's own projection of the true box is the ground-truth box.
                true_center = np.array(obj["position_m"])
                size = np.array([track.size.x, track.size.y, track.size.z])
                box = box_from_extent(fusion_camera, fusion_extrinsic, true_center, size)
                assert box is not None and _iou(box, (x0, y0, x1, y1)) > 0.95
                checked += 1
            area = (x1 - x0) * (y1 - y0)
            if obj["visible_fraction"] > 0.8 and area > 150:
                # The object is really drawn there: the frame differs from the empty road.
                sl = (slice(int(y0) + 1, int(y1) - 1), slice(int(x0) + 1, int(x1) - 1))
                assert np.abs(rgb[sl] - empty[sl].astype(np.int16)).mean() > 12.0
                drawn += 1
    assert checked > 50 and drawn > 20


def _cls(code: int) -> ObjectClass:
    cls = class_from_radar(code)
    assert cls is not None
    return cls


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_warnings_present_and_reproducible_from_radar(drive: dict[str, list[tuple[int, Any]]]) -> None:
    radar_at = {stamp: msg for stamp, msg in drive["/radar/tracks"]}
    levels: Counter[str] = Counter()
    tp = fp = fn = 0
    for stamp, msg in drive["/ground_truth/scene"]:
        doc = json.loads(msg.data)
        levels[doc["warning"]] += 1
        sensed = scene_warning(
            [
                assess(_cls(t.classification), t.position.x, t.position.y, t.velocity.x, t.velocity.y).level
                for t in radar_at[stamp].tracks
            ]
        ).name
        expected, got = doc["warning"] != "NONE", sensed != "NONE"
        tp += expected and got
        fp += got and not expected
        fn += expected and not got
    # The opening pedestrian crossing needs CAUTION then BRAKE within 3 s; most frames need nothing.
    assert levels["CAUTION"] > 0 and levels["BRAKE"] > 0 and levels["NONE"] > 0
    assert tp / (tp + fp) >= 0.9 and tp / (tp + fn) >= 0.9


def test_calibration_recorded_in_metadata(traffic_bag: SynthResult) -> None:
    with BagReader(traffic_bag.path) as reader:
        calib = json.loads(reader.custom_data["edge_llm_ros/calibration"])
    assert calib["radar_to_camera"] == {"translation": [1.8, 0.0, -0.8], "rpy": [0.0, 0.0, 0.0]}
    assert calib["k"] == [700.0, 0.0, 320.0, 0.0, 700.0, 240.0, 0.0, 0.0, 1.0]
    assert np.allclose(
        np.reshape(calib["T_camera_optical_from_radar"], (4, 4)), TRAFFIC_CALIBRATION.extrinsic.camera_from_radar
    )


def test_same_seed_same_bytes(traffic_bag: SynthResult, traffic_bag_again: SynthResult) -> None:
    def digest(path: Path) -> str:
        return hashlib.sha256(next(path.glob("*.mcap")).read_bytes()).hexdigest()

    assert digest(traffic_bag.path) == digest(traffic_bag_again.path)


def test_other_seed_other_drive(tmp_path: Path, drive: dict[str, list[tuple[int, Any]]]) -> None:
    other = _load(synthesize(tmp_path / "bag", scene="traffic", duration_s=1.0, seed=1).path)
    first = json.loads(drive["/ground_truth/scene"][0][1].data)
    second = json.loads(other["/ground_truth/scene"][0][1].data)
    assert first["ego"]["speed_mps"] != second["ego"]["speed_mps"]
    assert {o["track_id"] for o in first["objects"]}.isdisjoint(o["track_id"] for o in second["objects"])
    assert not np.array_equal(drive["/camera/image_raw"][5][1].data, other["/camera/image_raw"][5][1].data)


def test_radar_schema_decodes_in_an_independent_mcap_reader(traffic_bag: SynthResult) -> None:
    # radar_msgs is not in rosbags' stock typestore: the definition embedded in the file must be
    # complete for ROS 2 tools to decode it. mcap-ros2-support decodes from that text alone.
    mcap_reader = pytest.importorskip("mcap.reader")
    ros2_decoder = pytest.importorskip("mcap_ros2.decoder")
    with next(traffic_bag.path.glob("*.mcap")).open("rb") as fh:
        reader = mcap_reader.make_reader(fh, decoder_factories=[ros2_decoder.DecoderFactory()])
        radar = [msg for _, channel, _, msg in reader.iter_decoded_messages(topics=["/radar/tracks"])]
    assert len(radar) == 2 * FRAMES
    track = radar[0].tracks[0]
    assert radar[0].header.frame_id == "radar_link" and len(bytes(track.uuid.uuid)) == 16
    assert track.classification in set(RADAR_CLASSIFICATION.values()) and len(track.position_covariance) == 6
