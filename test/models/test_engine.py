from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_llm_ros.inference.engine import CPU, EngineOptions, OrtEngine, select_providers
from edge_llm_ros.inference.golden_check import check_engine, check_golden
from edge_llm_ros.models.errors import ModelError, ModelSpecError, Sha256MismatchError
from edge_llm_ros.models.hashing import sha256_file
from edge_llm_ros.models.manifest import AccuracyGate, TensorSpec
from edge_llm_ros.models.store import ModelStore

from .conftest import TINY_WEIGHTS, tiny_classifier, tiny_manifest

FAST = EngineOptions(warmup_runs=0)


def test_engine_reads_names_shapes_dtypes_from_the_model(tmp_path: Path) -> None:
    path = tiny_classifier(tmp_path / "m.onnx", channels=4, size=6, classes=7)
    engine = OrtEngine(path, FAST)
    assert engine.input_names == ("x",) and engine.output_names == ("logits",)
    assert engine.inputs[0].shape == ("batch", 4, 6, 6)
    assert engine.inputs[0].dtype == np.float32
    assert engine.outputs[0].shape == ("batch", 7)
    assert engine.max_batch is None
    assert engine.providers == (CPU,)
    out = engine.run(np.ones((3, 4, 6, 6), np.float32))
    assert out["logits"].shape == (3, 7)


def test_run_computes_and_accepts_a_feed_dict(tmp_path: Path) -> None:
    engine = OrtEngine(tiny_classifier(tmp_path / "m.onnx"), FAST)
    x = np.random.default_rng(1).uniform(size=(2, 3, 8, 8)).astype(np.float32)
    expected = x.mean(axis=(2, 3)) @ TINY_WEIGHTS
    np.testing.assert_allclose(engine.run(x)["logits"], expected, rtol=1e-5)
    np.testing.assert_allclose(engine.run({"x": x}, outputs=["logits"])["logits"], expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (np.ones((2, 3, 8, 8), np.float64), "expected dtype float32 (batch, 3, 8, 8), got (2, 3, 8, 8) float64"),
        (np.ones((2, 8, 8, 3), np.float32), "dim 1 must be 3; expected (batch, 3, 8, 8), got (2, 8, 8, 3) float32"),
        (np.ones((3, 8, 8), np.float32), "expected shape (batch, 3, 8, 8), got (3, 8, 8) float32"),
        (np.ones((0, 3, 8, 8), np.float32), "dim 0 is empty"),
        ({"image": np.ones((1, 3, 8, 8), np.float32)}, "missing ['x'], unexpected ['image']"),
        ([1, 2, 3], "expected a numpy array"),
    ],
)
def test_bad_batches_get_clear_errors(tmp_path: Path, batch: Any, message: str) -> None:
    engine = OrtEngine(tiny_classifier(tmp_path / "m.onnx"), FAST)
    feed = {"x": batch} if isinstance(batch, list) else batch
    with pytest.raises(ModelSpecError) as info:
        engine.run(feed)
    assert message in str(info.value)


def test_fixed_batch_dim_is_enforced_and_reported(tmp_path: Path) -> None:
    engine = OrtEngine(tiny_classifier(tmp_path / "m.onnx", batch=2), FAST)
    assert engine.max_batch == 2
    with pytest.raises(ModelSpecError, match="dim 0 must be 2"):
        engine.run(np.ones((3, 3, 8, 8), np.float32))
    with pytest.raises(ModelSpecError, match="no outputs named"):
        engine.run(np.ones((2, 3, 8, 8), np.float32), outputs=["probs"])


def test_pinned_sha256_is_checked_before_loading(tmp_path: Path) -> None:
    path = tiny_classifier(tmp_path / "m.onnx")
    OrtEngine(path, FAST, expected_sha256=sha256_file(path))
    with pytest.raises(Sha256MismatchError, match="refusing to load it"):
        OrtEngine(path, FAST, expected_sha256="0" * 64)
    with pytest.raises(ModelError, match="does not exist"):
        OrtEngine(tmp_path / "none.onnx", FAST)
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelError, match="onnxruntime cannot load the model"):
        OrtEngine(tmp_path / "junk.onnx", FAST)


def test_store_model_with_tampered_file_is_refused(store: ModelStore, make_model_dir: Any) -> None:
    ref = store.add(make_model_dir())
    engine = OrtEngine.from_store("tiny", store, options=FAST)
    assert engine.model_id == "tiny@1.0.0" and engine.manifest == ref.manifest
    data = bytearray(ref.model_path.read_bytes())
    data[-1] ^= 0x01
    ref.model_path.write_bytes(bytes(data))
    with pytest.raises(Sha256MismatchError) as info:
        OrtEngine(ref, FAST)
    assert "model.onnx" in str(info.value) and ref.manifest.model_entry.sha256 in str(info.value)


def test_model_that_disagrees_with_its_manifest_is_refused(store: ModelStore, make_model_dir: Any) -> None:
    src = make_model_dir(outputs=(TensorSpec("logits", ("batch", 10), "float32"),))
    ref = store.add(src)
    with pytest.raises(ModelSpecError, match=r"output 'logits' dim 1: model \(batch, 5\), manifest \(batch, 10\)"):
        OrtEngine(ref, FAST)
    src2 = make_model_dir(version="2.0.0", inputs=(TensorSpec("x", ("batch", 3, 8, 8), "uint8"),))
    with pytest.raises(ModelSpecError, match="model dtype float32, manifest uint8"):
        OrtEngine(store.add(src2), FAST)


def test_unavailable_provider_falls_back_to_cpu_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="edge_llm_ros.inference.engine"):
        assert select_providers(["NoSuchExecutionProvider", CPU]) == [CPU]
        engine = OrtEngine(tiny_classifier(tmp_path / "m.onnx"),
                           EngineOptions(providers=("NoSuchExecutionProvider",), warmup_runs=0))
    assert engine.providers == (CPU,)
    assert "NoSuchExecutionProvider is not available" in caplog.text


def test_threads_warmup_and_options(tmp_path: Path) -> None:
    engine = OrtEngine(tiny_classifier(tmp_path / "m.onnx"),
                       EngineOptions(intra_op_threads=2, inter_op_threads=2, allow_spinning=False, warmup_runs=2,
                                     warmup_batch=4))
    assert engine.warm_up(batch_size=3) >= 0.0
    assert engine.dummy_feed(5)["x"].shape == (5, 3, 8, 8)
    assert engine.describe()["intra_op_threads"] == 2
    with pytest.raises(ValueError):
        EngineOptions(intra_op_threads=0)
    with pytest.raises(ValueError):
        EngineOptions(graph_optimization="max")


def test_golden_gate_passes_and_fails(store: ModelStore, make_model_dir: Any) -> None:
    engine = OrtEngine(store.add(make_model_dir()), FAST)
    report = check_engine(engine)
    assert report.passed and report.agreement == 1.0 and report.count == 4
    assert report.max_abs_diff["logits"] < 1e-5
    golden = engine.ref.load_golden() if engine.ref else None
    assert golden is not None
    golden.reference["top1"] = (golden.reference["top1"] + 1) % 5  # every reference label wrong
    bad = check_golden(engine, golden, AccuracyGate("top1_agreement", 0.25), engine.manifest or tiny_manifest(Path()))
    assert not bad.passed and bad.agreement == 0.0 and "FAIL" in bad.summary()
