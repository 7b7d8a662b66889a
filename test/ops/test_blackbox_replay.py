"""A black-box dump written on a BRAKE decision during a replay replays to the same decisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_llm_ros.app.replay.session import ReplayOptions, run_replay
from edge_llm_ros.bags.reader import BagReader
from edge_llm_ros.models.store import ModelStore
from edge_llm_ros.ops.blackbox.recorder import BlackBoxConfig, Trigger, read_dump_metadata
from edge_llm_ros.scenes import synthesize

pytestmark = pytest.mark.slow


def test_brake_dump_replays_to_the_same_decisions(sample_model_store: ModelStore, tmp_path: Path) -> None:
    drive = tmp_path / "drive"
    synthesize(drive, scene="traffic", duration_s=6.0, seed=0)
    store = str(sample_model_store.root)
    boxes = tmp_path / "blackbox"
    config = BlackBoxConfig(
        out_dir=boxes, window_s=1.0, max_bytes=64 * 1024 * 1024, triggers=frozenset({Trigger.BRAKE})
    )
    original = run_replay(ReplayOptions(bag=drive, model_store=store, blackbox=config))
    brakes = [d for d in original.result.decisions if d.action == "BRAKE"]
    assert brakes, "the drive must contain a BRAKE for this test"
    # One dump: the first BRAKE; later ones fall within min_interval_s.
    assert len(original.blackbox_dumps) == 1
    dump = original.blackbox_dumps[0]
    meta = read_dump_metadata(dump)
    assert meta["reason"] == "brake"
    assert meta["details"]["stamp_ns"] == min(d.stamp_ns for d in brakes)
    with BagReader(dump) as reader:
        dumped = reader.topics
    assert {"/camera/image_raw", "/radar/tracks", "/edge_llm/decision", "/edge_llm/detections"} <= set(dumped)

    again = run_replay(ReplayOptions(bag=dump, model_store=store))
    before = {d.stamp_ns: d.decision_key() for d in original.result.decisions}
    after = {d.stamp_ns: d.decision_key() for d in again.result.decisions}
    assert again.result.frames_published == len(after) > 0
    assert set(after) < set(before)  # a window, not the drive
    assert meta["details"]["stamp_ns"] in after
    differing = {s: (after[s], before[s]) for s in after if after[s] != before[s]}
    assert not differing, differing


def test_black_box_of_a_multi_process_replay(sample_model_store: ModelStore, tmp_path: Path) -> None:
    # One node per process on zenoh: the replaying process taps every topic over zenoh.
    drive = tmp_path / "drive"
    synthesize(drive, scene="traffic", duration_s=4.0, seed=0)
    store = str(sample_model_store.root)
    config = BlackBoxConfig(out_dir=tmp_path / "blackbox", window_s=2.0, triggers=frozenset({Trigger.BRAKE}))
    original = run_replay(
        ReplayOptions(bag=drive, model_store=store, transport="zenoh", run_dir=tmp_path / "run", blackbox=config)
    )
    assert len(original.blackbox_dumps) == 1
    again = run_replay(ReplayOptions(bag=original.blackbox_dumps[0], model_store=store))
    before = {d.stamp_ns: d.decision_key() for d in original.result.decisions}
    after = {d.stamp_ns: d.decision_key() for d in again.result.decisions}
    assert len(after) > 0 and set(after) < set(before)
    assert {s: after[s] for s in after} == {s: before[s] for s in after}
