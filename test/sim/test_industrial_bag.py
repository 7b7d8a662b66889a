"""A generated conveyor run (sqlite3 storage), read back: topics, ground truth, motion, pixels."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from edge_llm_ros.bags import BagReader, bag_info
from edge_llm_ros.msgs import get_codec
from edge_llm_ros.sim import SynthResult
from edge_llm_ros.sim import ground_truth as gt
from edge_llm_ros.sim.industrial import IndustrialConfig, IndustrialScene

FRAMES = 25  # conftest: a 2.5 s run


@pytest.fixture(scope="module")
def run(industrial_bag: SynthResult) -> dict[str, list[tuple[int, Any]]]:
    out: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    with BagReader(industrial_bag.path) as reader:
        for message, msg in reader.decoded():
            out[message.topic].append((message.stamp_ns, msg))
    return out


def test_topics_counts_rates(industrial_bag: SynthResult) -> None:
    info = bag_info(industrial_bag.path)
    assert info.storage == "sqlite3"
    assert {t.name: (t.typename, t.count) for t in info.topics} == {
        "/camera/image_raw": ("sensor_msgs/msg/Image", FRAMES),
        "/camera/camera_info": ("sensor_msgs/msg/CameraInfo", FRAMES),
        "/ground_truth/scene": ("std_msgs/msg/String", FRAMES),
    }
    assert all(t.rate_hz == pytest.approx(10.0) for t in info.topics)
    assert info.custom_data["edge_llm_ros/scene"] == "industrial"


def test_ground_truth_parts(run: dict[str, list[tuple[int, Any]]]) -> None:
    images = {stamp: msg for stamp, msg in run["/camera/image_raw"]}
    verdicts: dict[int, str] = {}
    boxes: dict[int, dict[int, list[float]]] = defaultdict(dict)
    for index, (stamp, msg) in enumerate(run["/ground_truth/scene"]):
        doc = gt.parse(msg.data)
        assert (doc["scene"], doc["stamp_ns"], doc["frame_index"]) == ("industrial", stamp, index)
        assert doc["rejects"] == sum(p["verdict"] == "REJECT" for p in doc["parts"])
        rgb = images[stamp].data.reshape(480, 640, 3)
        for part in doc["parts"]:
            x0, y0, x1, y1 = part["bbox_xyxy"]
            assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 480
            assert (part["verdict"] == "REJECT") == (part["defect"] != "none")
            if part["defect"] == "none":
                assert part["defect_bbox_xyxy"] is None
            verdicts[part["part_id"]] = part["verdict"]
            if part["fully_visible"]:
                boxes[part["part_id"]][index] = part["bbox_xyxy"]
                # Machined metal is much brighter than the rubber belt around it.
                patch = rgb[int(y0) : int(y1), int(x0) : int(x1)].astype(float)
                assert patch.mean() > 95.0
                if part["defect_bbox_xyxy"] is not None:
                    dx0, dy0, dx1, dy1 = part["defect_bbox_xyxy"]
                    assert x0 - 3 <= dx0 and dx1 <= x1 + 3 and y0 - 3 <= dy0 and dy1 <= y1 + 3
    assert set(verdicts.values()) == {"PASS", "REJECT"}
    # Parts ride the belt: 0.2 m/s at 1 mm/px and 10 Hz is 20 px to the right per frame.
    moves = [(b[i + 1][0] - b[i][0], b[i + 1][1] - b[i][1]) for b in boxes.values() for i in b if i + 1 in b]
    assert moves and all(dx == pytest.approx(20.0) and dy == 0 for dx, dy in moves)


def test_industrial_is_deterministic_per_seed() -> None:
    codec = get_codec()
    a = IndustrialScene(IndustrialConfig(duration_s=1.0, seed=5), codec)
    b = IndustrialScene(IndustrialConfig(duration_s=1.0, seed=5), codec)
    c = IndustrialScene(IndustrialConfig(duration_s=1.0, seed=6), codec)
    frame_a, doc_a = a.render(3, 0)
    frame_b, doc_b = b.render(3, 0)
    frame_c, _doc_c = c.render(3, 0)
    assert np.array_equal(frame_a, frame_b) and json.dumps(doc_a) == json.dumps(doc_b)
    assert not np.array_equal(frame_a, frame_c)
    assert [p.defect for p in a.parts] == [p.defect for p in b.parts]
