"""The industrial pipeline end to end: a generated conveyor bag through segmentation, the trained
defect classifier (ONNX, loaded by the same RoiClassifier as traffic) and the decider, scored
against the bag's ground truth. Inproc, real models, real bags.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_llm_ros.app.pipeline import PipelineError, build_pipeline, scene_config_path
from edge_llm_ros.app.replay.report import write_replay_report
from edge_llm_ros.app.replay.session import ReplayOptions, run_replay
from edge_llm_ros.bags.reader import BagReader
from edge_llm_ros.cli.main import main as cli_main
from edge_llm_ros.decision.record import DecisionRecord
from edge_llm_ros.industrial.classes import DEFECT_CLASSES
from edge_llm_ros.inference.classifier import load_classifier
from edge_llm_ros.inference.golden_check import check_engine
from edge_llm_ros.models.store import ModelStore
from edge_llm_ros.scenes import synthesize
from edge_llm_ros.transport.inproc import InprocBus

pytestmark = pytest.mark.slow

SECONDS = 5.0


@pytest.fixture(scope="module")
def conveyor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 s of a seed neither training nor the held-out evaluation used."""
    path = tmp_path_factory.mktemp("conveyor") / "run"
    synthesize(path, scene="industrial", duration_s=SECONDS, seed=7)
    return path


def test_the_trained_model_is_a_complete_store_model(defect_store: ModelStore) -> None:
    classifier = load_classifier("defect_classifier", store=defect_store.root)
    manifest = classifier.engine.manifest
    assert manifest is not None and manifest.preprocess is not None and manifest.labels is not None
    assert classifier.classes == DEFECT_CLASSES
    assert manifest.inputs[0].shape == ("batch", 3, 96, 96) and manifest.outputs[0].shape == ("batch", 6)
    assert check_engine(classifier.engine).passed
    measured = manifest.accuracy.measured
    assert measured["heldout_top1_accuracy"] >= 0.9 and measured["heldout_defect_recall"] >= 0.9
    assert measured["heldout_top1_agreement_vs_torch"] == 1.0
    steps = " ".join(manifest.provenance.steps)
    assert "seeds 1000..1023" in steps and "5 epochs" in steps and "held-out: seed 99" in steps
    assert "dynamo=True" in steps and manifest.provenance.tools["torch"].startswith("2.")
    assert {f.role for f in manifest.files} == {"model", "golden"}
    assert not list(Path(defect_store.root).rglob("*.pt")) and not list(Path(defect_store.root).rglob("*.onnx.data"))
    # Dynamic batch: the exported graph serves 1 and 3 crops alike.
    buffer = classifier.allocate(3)
    rng = np.random.default_rng(0)
    for i in range(3):
        classifier.fill(buffer, i, rng.integers(0, 255, (120, 110, 3), dtype=np.uint8))
    three = classifier.classify(buffer[:3])
    assert [c for c, _ in classifier.classify(buffer[:1])] == [three[0][0]]
    assert all(label in DEFECT_CLASSES and 0.0 <= p <= 1.0 for label, p in three)


def test_replay_rejects_the_defective_parts(conveyor: Path, defect_store: ModelStore, tmp_path: Path) -> None:
    options = ReplayOptions(bag=conveyor, scene="industrial", model_store=str(defect_store.root))
    first = run_replay(options)
    second = run_replay(options)
    result = first.result
    frames = round(SECONDS * 10)
    assert result.frames_published == frames
    assert sorted(d.stamp_ns for d in result.decisions) == sorted(result.injected_ns)
    keys = [d.decision_key() for d in sorted(result.decisions, key=lambda d: d.stamp_ns)]
    assert keys == [d.decision_key() for d in sorted(second.result.decisions, key=lambda d: d.stamp_ns)]
    assert max(first.batch_sizes) > 1  # the parts of a frame are classified in one batch

    _paths, report, table = write_replay_report(
        result, tmp_path, scene="industrial", batch_sizes=first.batch_sizes, counters=first.counters, metadata={}
    )
    accuracy = report["accuracy"]
    for key in ("reject", "frame_reject"):
        assert accuracy[key]["precision"] >= 0.9 and accuracy[key]["recall"] >= 0.9, accuracy
    assert accuracy["reject"]["tp"] >= 10 and accuracy["reject"]["tn"] >= 10, accuracy
    assert accuracy["parts_spurious"] == 0 and accuracy["parts_not_found"] <= 2
    assert "accuracy reject" in table

    decisions = sorted(result.decisions, key=lambda d: d.stamp_ns)
    assert {d.scene for d in decisions} == {"industrial"} and {d.action for d in decisions} == {"PASS", "REJECT"}
    parts = [o for d in decisions for o in d.objects]
    assert all(isinstance(o["part_id"], int) and o["verdict"] in ("PASS", "REJECT") for o in parts)
    assert all(o["class"] in DEFECT_CLASSES for o in parts)
    for d in decisions:
        assert d.action == ("REJECT" if any(o["verdict"] == "REJECT" for o in d.objects) else "PASS")
    assert all({"fusion", "roi", "vision", "decision"} <= set(d.timing) for d in decisions)
    # A part keeps its id while it crosses the view: ids are few compared with part observations.
    assert len({o["part_id"] for o in parts}) * 5 < len(parts)


def test_replay_command_writes_the_industrial_report(
    conveyor: Path, defect_store: ModelStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_dir = tmp_path / "report"
    argv = ["replay", str(conveyor), "--scene", "industrial", "--model-store", str(defect_store.root)]
    assert cli_main([*argv, "--report", str(report_dir), "--max-frames", "20"]) == 0
    assert "accuracy frame_reject" in capsys.readouterr().out
    report = json.loads((report_dir / "report.json").read_text())
    assert report["accuracy"]["frames"] == 20 and report["accuracy"]["decided"] == 20
    with BagReader(report_dir / "decisions") as bag:
        decoded = [DecisionRecord.from_json(msg.data) for _, msg in bag.decoded()]
    assert len(decoded) == 20 and {d.scene for d in decoded} == {"industrial"}


def test_bad_part_parameters_fail_configure_naming_them(defect_store: ModelStore) -> None:
    bus = InprocBus()
    try:
        pipeline = build_pipeline(
            bus,
            scene_config_path("industrial"),
            {
                "roi_preprocess": {"parts.belt_roi": [0, 70, 640]},
                "vision_inference": {"model_store": str(defect_store.root)},
            },
        )
        with pytest.raises(PipelineError, match=r"roi_preprocess.*parts.belt_roi needs 4 values"):
            pipeline.bring_up()
        pipeline.shutdown()
    finally:
        bus.close()
