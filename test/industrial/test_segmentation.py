"""Part segmentation and tracking on a real generated conveyor run, checked against its ground truth."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from edge_llm_ros.bags.reader import BagReader
from edge_llm_ros.industrial.proposals import PartProposer, crop_box
from edge_llm_ros.industrial.segmentation import PartBlob, PartSegmenter, SegmenterConfig
from edge_llm_ros.industrial.tracking import PartTracker, TrackerConfig
from edge_llm_ros.nodes.convert import image_to_rgb
from edge_llm_ros.roi.boxes import iou
from edge_llm_ros.sim import SynthResult

BELT_ROI = (0, 70, 640, 410)


def frames(run: SynthResult) -> list[tuple[int, np.ndarray, dict[str, Any]]]:
    """(stamp, rgb, ground truth) per camera frame of the bag."""
    images: dict[int, np.ndarray] = {}
    truth: dict[int, dict[str, Any]] = {}
    with BagReader(run.path) as reader:
        for message in reader.messages():
            if message.topic == "/camera/image_raw":
                msg = reader.decode(message)
                images[message.stamp_ns] = np.array(image_to_rgb(msg))
            elif message.topic == "/ground_truth/scene":
                truth[message.stamp_ns] = json.loads(reader.decode(message).data)
    return [(stamp, images[stamp], truth[stamp]) for stamp in sorted(images)]


@pytest.fixture(scope="module")
def run_frames(conveyor_run: SynthResult) -> list[tuple[int, np.ndarray, dict[str, Any]]]:
    return frames(conveyor_run)


def best_match(box: tuple[float, float, float, float], blobs: list[PartBlob]) -> tuple[float, PartBlob | None]:
    scored = [(iou(box, b.bbox), b) for b in blobs]
    return max(scored, key=lambda s: s[0], default=(0.0, None))


def test_segmentation_finds_every_ground_truth_part(run_frames: list[tuple[int, np.ndarray, dict[str, Any]]]) -> None:
    segmenter = PartSegmenter(SegmenterConfig(belt_roi=BELT_ROI))
    whole = matched = 0
    for _stamp, rgb, truth in run_frames:
        blobs = segmenter.segment(rgb)
        assert segmenter.belt_level is not None and 40 < segmenter.belt_level < 70  # the dark belt
        for part in truth["parts"]:
            box = tuple(part["bbox_xyxy"])
            overlap, blob = best_match(box, blobs)
            width = box[2] - box[0]
            if part["fully_visible"]:
                whole += 1
                assert overlap >= 0.9, (part, blobs)
                assert blob is not None
                matched += 1
                # Whole agrees with the ground truth except a part whose edge lies exactly on the border.
                on_border = box[0] < 1 or box[2] > rgb.shape[1] - 1
                assert blob.fully_visible or on_border
            elif width >= 40:  # a part half in view is still found, as cut off
                assert overlap >= 0.8 and blob is not None and not blob.fully_visible
        # Nothing but parts: every blob is a ground-truth part.
        for blob in blobs:
            assert max((iou(blob.bbox, tuple(p["bbox_xyxy"])) for p in truth["parts"]), default=0.0) >= 0.5
    assert whole >= 30 and matched == whole


def test_tracking_keeps_one_id_per_part_also_across_dropped_frames(
    run_frames: list[tuple[int, np.ndarray, dict[str, Any]]],
) -> None:
    for keep in (lambda i: True, lambda i: i % 3 != 1):  # every frame, then every third frame lost
        proposer = PartProposer(SegmenterConfig(belt_roi=BELT_ROI), TrackerConfig(velocity_px_s=(200.0, 0.0)))
        ids_of_part: dict[int, set[int]] = defaultdict(set)
        parts_of_id: dict[int, set[int]] = defaultdict(set)
        for index, (stamp, rgb, truth) in enumerate(run_frames):
            if not keep(index):
                continue
            proposals = proposer.propose(stamp, rgb)
            assert all(p.part_id in {t.part_id for t in proposer.last_parts if t.fully_visible} for p in proposals)
            for tracked in proposer.last_parts:
                overlap, gt = max(
                    ((iou(tracked.bbox, tuple(p["bbox_xyxy"])), p) for p in truth["parts"]), key=lambda s: s[0]
                )
                assert overlap >= 0.5
                ids_of_part[gt["part_id"]].add(tracked.part_id)
                parts_of_id[tracked.part_id].add(gt["part_id"])
        assert all(len(ids) == 1 for ids in ids_of_part.values()), ids_of_part
        assert all(len(parts) == 1 for parts in parts_of_id.values()), parts_of_id
        assert len(ids_of_part) >= 3
        assert abs(proposer.tracker.velocity[0] - 200.0) < 5.0


def test_proposals_are_whole_parts_with_the_margin_the_model_was_trained_on(
    run_frames: list[tuple[int, np.ndarray, dict[str, Any]]],
) -> None:
    proposer = PartProposer(SegmenterConfig(belt_roi=BELT_ROI), margin=0.04, max_parts=8)
    for stamp, rgb, _truth in run_frames:
        proposals = proposer.propose(stamp, rgb)
        whole = [t for t in proposer.last_parts if t.fully_visible]
        assert len(proposals) == len(whole)
        for p in proposals:
            assert p.crop == crop_box(p.part_box, 0.04, rgb.shape[1], rgb.shape[0])
            assert p.crop[0] <= p.part_box[0] and p.crop[2] >= p.part_box[2]
        # Closest to leaving the view (largest x on a left-to-right belt) first.
        xs = [p.part_box[0] for p in proposals]
        assert xs == sorted(xs, reverse=True)


def test_a_cap_keeps_the_parts_about_to_leave(run_frames: list[tuple[int, np.ndarray, dict[str, Any]]]) -> None:
    proposer = PartProposer(SegmenterConfig(belt_roi=BELT_ROI), max_parts=1)
    capped = 0
    for stamp, rgb, _truth in run_frames:
        proposals = proposer.propose(stamp, rgb)
        whole = [t for t in proposer.last_parts if t.fully_visible]
        assert len(proposals) == min(1, len(whole))
        if proposals:
            assert proposals[0].part_box[2] == max(t.bbox[2] for t in whole)
        capped += max(0, len(whole) - 1)
    assert proposer.stats()["parts_over_cap"] == capped > 0


def test_an_empty_belt_has_no_parts_and_bad_frames_are_refused() -> None:
    rng = np.random.default_rng(0)
    belt = np.clip(52 + rng.normal(0, 3, (480, 640, 3)), 0, 255).astype(np.uint8)
    assert PartSegmenter(SegmenterConfig(belt_roi=BELT_ROI)).segment(belt) == []
    bright = belt.copy()
    bright[200:260, 300:400] = 180  # one bright plate in the middle
    (blob,) = PartSegmenter(SegmenterConfig(belt_roi=BELT_ROI)).segment(bright)
    assert blob.bbox == (300.0, 200.0, 400.0, 260.0) and blob.fully_visible and blob.area >= 5000
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        PartSegmenter().segment(np.zeros((480, 640), np.uint8))
    with pytest.raises(ValueError, match="outside"):
        PartSegmenter(SegmenterConfig(belt_roi=(700, 0, 800, 100))).segment(belt)
    with pytest.raises(ValueError, match="belt_roi"):
        SegmenterConfig(belt_roi=(10, 10, 5, 20))
    with pytest.raises(ValueError, match="velocity_gain"):
        TrackerConfig(velocity_gain=2.0)


def test_tracker_drops_out_of_order_frames_and_forgets_lost_parts() -> None:
    tracker = PartTracker(TrackerConfig(velocity_px_s=(200.0, 0.0), max_missed_s=0.5))
    blob = PartBlob((100.0, 100.0, 200.0, 180.0), 8000)
    (first,) = tracker.update(1_000_000_000, [blob])
    moved = PartBlob((120.0, 100.0, 220.0, 180.0), 8000)
    (second,) = tracker.update(1_100_000_000, [moved])
    assert second.part_id == first.part_id and second.age == 2
    assert tracker.update(1_050_000_000, [moved]) == []
    assert tracker.counters["dropped_out_of_order:parts"] == 1
    # Unseen for longer than max_missed_s: the same place now holds a new part.
    (later,) = tracker.update(2_000_000_000, [PartBlob((300.0, 100.0, 400.0, 180.0), 8000)])
    assert later.part_id != first.part_id and tracker.active_tracks == 1


def test_a_part_entering_the_view_moves_with_its_leading_edge() -> None:
    # While a part enters from the left its box grows from the border; its centre moves at half the
    # belt speed, its right edge at the belt speed. The id must hold through that and past it.
    tracker = PartTracker(TrackerConfig(velocity_px_s=(200.0, 0.0), max_match_px=15.0))
    ids = set()
    for k in range(10):
        right = 20.0 + 20.0 * k
        left = max(0.0, right - 120.0)
        cut = (left == 0.0, False, False, False)
        (part,) = tracker.update(k * 100_000_000, [PartBlob((left, 200.0, right, 300.0), 5000, cut)])
        ids.add(part.part_id)
    assert ids == {1}
    assert tracker.velocity[0] == pytest.approx(200.0, abs=1e-6)
