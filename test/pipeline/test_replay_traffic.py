"""The whole traffic pipeline on a real (synthesized) drive: inproc, real models, real bags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_llm_ros.app.pipeline import PipelineError, build_pipeline, scene_config_path
from edge_llm_ros.app.replay.report import write_replay_report
from edge_llm_ros.app.replay.session import ReplayOptions, run_replay
from edge_llm_ros.bags.reader import BagReader
from edge_llm_ros.decision.record import DecisionRecord
from edge_llm_ros.models.store import ModelStore
from edge_llm_ros.scenes import synthesize
from edge_llm_ros.transport.inproc import InprocBus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("drives") / "traffic"
    synthesize(path, scene="traffic", duration_s=6.0, seed=3)
    return path


@pytest.fixture(scope="module")
def faulty_drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("drives") / "faults"
    synthesize(path, scene="traffic", duration_s=3.0, seed=4, faults=True)
    return path


def test_replay_decides_every_frame_accurately_and_reproducibly(
    drive: Path, sample_model_store: ModelStore, tmp_path: Path
) -> None:
    options = ReplayOptions(bag=drive, model_store=str(sample_model_store.root))
    first = run_replay(options)
    second = run_replay(options)
    result = first.result
    assert result.frames_published == 60
    assert sorted(d.stamp_ns for d in result.decisions) == sorted(result.injected_ns)
    keys = [d.decision_key() for d in sorted(result.decisions, key=lambda d: d.stamp_ns)]
    assert keys == [d.decision_key() for d in sorted(second.result.decisions, key=lambda d: d.stamp_ns)]
    assert sum(first.batch_sizes.values()) > 0 and max(first.batch_sizes) > 1  # ROIs of a frame batch together

    paths, report, _table = write_replay_report(
        result, tmp_path, scene="traffic", batch_sizes=first.batch_sizes, counters=first.counters, metadata={}
    )
    warning = report["accuracy"]["warning"]
    assert warning["precision"] >= 0.9 and warning["recall"] >= 0.9, report["accuracy"]
    assert json.loads(paths.json.read_text())["accuracy"]["frames"] == 60
    assert paths.png.stat().st_size > 10_000
    with BagReader(tmp_path / "decisions") as bag:
        decoded = [DecisionRecord.from_json(msg.data) for _, msg in bag.decoded()]
    assert len(decoded) == 60 and {d.scene for d in decoded} == {"traffic"}
    assert all({"fusion", "roi", "vision", "decision"} <= set(d.timing) for d in decoded)


def test_bad_inputs_are_rejected_counted_and_the_rest_decided(
    faulty_drive: Path, sample_model_store: ModelStore
) -> None:
    with BagReader(faulty_drive) as bag:
        faults = json.loads(bag.custom_data["faults"]) if "faults" in bag.custom_data else None
    outcome = run_replay(ReplayOptions(bag=faulty_drive, model_store=str(sample_model_store.root)))
    fusion = outcome.counters["sensor_fusion"]
    rejected = {k: v for k, v in fusion.items() if k.startswith(("rejected", "bad_input", "dropped"))}
    assert rejected, f"no rejection counted; faults injected: {faults}"
    assert any(k.startswith("rejected:/camera/image_raw:encoding") for k in rejected)  # by topic and reason
    assert any("nonfinite" in k for k in rejected)
    assert any(k.startswith("bad_input:/radar/tracks") for k in rejected)  # the truncated payload
    assert any("out_of_order" in k for k in rejected)
    # Every frame the fusion accepted got a decision: nothing stalled behind a bad message.
    assert len(outcome.result.decisions) == fusion["fused"]
    assert len(outcome.result.decisions) >= outcome.result.frames_published - 4


def test_bad_parameter_fails_configure_naming_it(sample_model_store: ModelStore) -> None:
    bus = InprocBus()
    try:
        pipeline = build_pipeline(
            bus,
            scene_config_path("traffic"),
            {
                "decision": {"brake_ttc_s": -1.0},
                "vision_inference": {"model_store": str(sample_model_store.root)},
                "roi_preprocess": {"model_store": str(sample_model_store.root)},
            },
        )
        with pytest.raises(PipelineError, match=r"'brake_ttc_s' = -1.0 is below its minimum"):
            pipeline.bring_up()
        pipeline.shutdown()
    finally:
        bus.close()


def test_missing_model_fails_configure_naming_it(tmp_path: Path) -> None:
    bus = InprocBus()
    try:
        pipeline = build_pipeline(
            bus,
            scene_config_path("traffic"),
            {
                "roi_preprocess": {"person_detector.enabled": False},
                "vision_inference": {"model_store": str(tmp_path / "empty_store"), "model": "no_such_model"},
            },
        )
        with pytest.raises(PipelineError, match=r"vision_inference.*no_such_model"):
            pipeline.bring_up()
        # What came up before the failure keeps running.
        assert pipeline.nodes["sensor_fusion"].is_active
        pipeline.shutdown()
    finally:
        bus.close()
