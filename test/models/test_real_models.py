"""Real weights: the shipped person detector and the prepared EfficientNet-Lite0 FP32/INT8 classifier."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_llm_ros.app.prepare.person_detector import asset_dir
from edge_llm_ros.cli.main import main as cli_main
from edge_llm_ros.inference.detector_postprocess import person_boxes
from edge_llm_ros.inference.engine import EngineOptions, OrtEngine
from edge_llm_ros.inference.golden_check import check_engine, check_golden, run_batched
from edge_llm_ros.inference.preprocess import Preprocessor
from edge_llm_ros.models.errors import Sha256MismatchError
from edge_llm_ros.models.labels import ROI_CLASSES, ClassRollup
from edge_llm_ros.models.manifest import Manifest
from edge_llm_ros.models.sample_images import load_image
from edge_llm_ros.models.store import ModelStore

pytestmark = pytest.mark.slow
OPTIONS = EngineOptions(intra_op_threads=2, warmup_runs=0)


def test_shipped_detector_asset_is_pinned_and_small() -> None:
    manifest = Manifest.load(asset_dir())
    assert manifest.kind == "detector" and manifest.license == "MIT"
    assert manifest.model_entry.size_bytes < 20_000_000
    assert manifest.provenance.tools["tf2onnx"] and "tf2onnx.convert" in manifest.provenance.steps[0]
    assert manifest.detector is not None and manifest.detector.boxes_output == "detection_boxes"


def test_person_detector_finds_the_astronaut(detector_store: ModelStore) -> None:
    engine = OrtEngine.from_store("person_detector", detector_store, options=OPTIONS)
    assert engine.inputs[0].shape == ("batch", "height", "width", 3) and engine.inputs[0].dtype == np.uint8
    manifest = engine.manifest
    assert manifest is not None and manifest.preprocess is not None
    photo = load_image("astronaut")
    batch, _ = Preprocessor(manifest.preprocess)([photo, load_image("coffee")])
    found = person_boxes(engine.run(batch), manifest, [photo.shape[:2], (400, 600)])
    assert len(found[0]) == 1 and len(found[1]) == 0
    x1, y1, x2, y2 = found[0].boxes[0]
    # She fills most of the 512x512 frame: the box spans it, from near the top to the bottom edge.
    assert found[0].scores[0] > 0.8
    assert x1 < 60 and x2 > 350 and y1 < 60 and y2 > 480
    assert check_engine(engine).passed


def test_detector_golden_gate_fails_a_blind_model(detector_store: ModelStore) -> None:
    engine = OrtEngine.from_store("person_detector", detector_store, options=OPTIONS)
    ref = detector_store.resolve("person_detector")
    golden = ref.load_golden()
    assert golden is not None and engine.manifest is not None
    golden.inputs["image_tensor"] = np.zeros_like(golden.inputs["image_tensor"])  # nobody to see
    report = check_golden(engine, golden, ref.manifest.accuracy, ref.manifest)
    assert not report.passed and report.agreement == 0.0


def test_tampered_store_copy_is_refused(detector_store: ModelStore, tmp_path: Path) -> None:
    copy = ModelStore(tmp_path / "store")
    ref = copy.add(detector_store.resolve("person_detector").directory)
    with ref.model_path.open("r+b") as fh:
        fh.seek(4096)
        fh.write(b"\x00\x01\x02\x03")
    with pytest.raises(Sha256MismatchError, match=re.escape("model.onnx")):
        OrtEngine(ref, OPTIONS)
    assert cli_main(["models", "verify", "person_detector", "--store", str(copy.root)]) == 1


def test_int8_classifier_agrees_with_fp32_on_golden_crops(classifier_store: ModelStore) -> None:
    assert classifier_store.resolve("roi_classifier").version == "1.0.0-int8"
    fp32 = OrtEngine.from_store("roi_classifier@1.0.0-fp32", classifier_store, options=OPTIONS)
    int8 = OrtEngine.from_store("roi_classifier", classifier_store, options=OPTIONS)
    assert int8.inputs[0].shape == ("batch", 3, 224, 224)
    golden = int8.ref.load_golden() if int8.ref else None
    assert golden is not None and golden.count >= 8
    fp32_top1 = run_batched(fp32, golden.inputs)["logits"].argmax(1)
    int8_top1 = run_batched(int8, golden.inputs)["logits"].argmax(1)
    agreement = float(np.mean(fp32_top1 == int8_top1))
    manifest = int8.manifest
    assert manifest is not None
    assert agreement >= manifest.accuracy.min_agreement
    assert check_engine(int8).passed and check_engine(fp32).passed
    int8_size = manifest.model_entry.size_bytes
    fp32_size = fp32.manifest.model_entry.size_bytes if fp32.manifest else 0
    assert int8_size < 0.35 * fp32_size


def test_classifier_recognises_real_photos(classifier_store: ModelStore) -> None:
    engine = OrtEngine.from_store("roi_classifier", classifier_store, options=OPTIONS)
    manifest = engine.manifest
    assert manifest is not None and manifest.preprocess is not None and manifest.labels is not None
    pre = Preprocessor(manifest.preprocess)
    batch = pre.allocate(3)
    for i, name in enumerate(("coffee", "chelsea", "motorcycle_left")):
        pre.fill(batch, i, load_image(name))
    logits = engine.run(batch)["logits"]
    top1 = logits.argmax(1).tolist()
    assert top1[0] in (967, 968, 504)  # espresso / cup / coffee mug
    assert top1[1] in (281, 282, 283, 284, 285, 287)  # a cat
    ids, _ = ClassRollup(manifest.labels, 1000).classify(logits)
    assert ROI_CLASSES[ids[2]] == "motorcycle"  # ImageNet's moped / motor scooter


def test_cli_list_and_verify(classifier_store: ModelStore, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(classifier_store.root)
    assert cli_main(["models", "list", "--store", root]) == 0
    out = capsys.readouterr().out
    assert "roi_classifier@1.0.0-int8" in out and "* roi_classifier@1.0.0-int8" in out
    assert cli_main(["models", "verify", "roi_classifier", "--store", root]) == 0
    assert "PASS roi_classifier@1.0.0-int8" in capsys.readouterr().out


def test_cli_prepare_only_detector(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_dir = tmp_path / "store"
    assert cli_main(["models", "prepare", "--store", str(store_dir), "--only", "person_detector"]) == 0
    assert "person_detector@1.0.0" in capsys.readouterr().out
    assert cli_main(["models", "prepare", "--store", str(store_dir), "--only", "nope"]) == 1
    shutil.rmtree(store_dir)
