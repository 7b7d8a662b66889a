"""Fixtures for model store / engine tests: tiny ONNX models built in the test, and real prepared stores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_llm_ros.models.golden import GoldenSet
from edge_llm_ros.models.hashing import sha256_file
from edge_llm_ros.models.labels import imagenet_label_map
from edge_llm_ros.models.manifest import (
    AccuracyGate,
    FileEntry,
    GoldenSpec,
    LabelMap,
    Manifest,
    PreprocessSpec,
    Provenance,
    TensorSpec,
)
from edge_llm_ros.models.store import ModelStore

TINY_WEIGHTS = np.arange(15, dtype=np.float32).reshape(3, 5) / 10.0


def tiny_classifier(path: Path, channels: int = 3, size: int = 8, classes: int = 5, batch: str | int = "batch") -> Path:
    """x [batch, C, H, W] float32 -> ReduceMean(H, W) -> MatMul W -> logits [batch, classes]."""
    weights = np.arange(channels * classes, dtype=np.float32).reshape(channels, classes) / 10.0
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["x"], ["pooled"], axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["pooled", "w"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, channels, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, classes])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def tiny_manifest(directory: Path, name: str = "tiny", version: str = "1.0.0", **overrides: object) -> Manifest:
    """A manifest listing `directory`/model.onnx (+ golden.npz when present) with their real hashes."""
    files = [FileEntry("model.onnx", sha256_file(directory / "model.onnx"), (directory / "model.onnx").stat().st_size)]
    golden = None
    if (directory / "golden.npz").exists():
        files.append(FileEntry("golden.npz", sha256_file(directory / "golden.npz"),
                               (directory / "golden.npz").stat().st_size, role="golden"))
        golden = GoldenSpec("golden.npz", 4, "tiny golden")
    fields: dict[str, object] = dict(
        name=name,
        version=version,
        kind="classifier",
        model_file="model.onnx",
        files=tuple(files),
        inputs=(TensorSpec("x", ("batch", 3, 8, 8), "float32"),),
        outputs=(TensorSpec("logits", ("batch", 5), "float32"),),
        license="Apache-2.0",
        provenance=Provenance("test", "0", "Apache-2.0", ("built with onnx.helper in the test",)),
        accuracy=AccuracyGate("top1_agreement", 0.25, version, {}),
        preprocess=PreprocessSpec("x", "NCHW", 8, 8, (127.0, 127.0, 127.0), (128.0, 128.0, 128.0)),
        labels=LabelMap(("a", "b", "other"), "toy", {0: "a", 1: "b"}, {0: "zero", 1: "one"}, "other"),
        golden=golden,
    )
    fields.update(overrides)
    return Manifest(**fields)  # type: ignore[arg-type]


def tiny_golden(directory: Path) -> GoldenSet:
    """Four inputs whose top-1 under the tiny model is known (channel 2 dominates -> class 4)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(4, 3, 8, 8)).astype(np.float32)
    logits = x.mean(axis=(2, 3)) @ TINY_WEIGHTS
    golden = GoldenSet({"x": x}, {"logits": logits}, {"top1": logits.argmax(1).astype(np.int64)})
    golden.save(directory / "golden.npz")
    return golden


@pytest.fixture
def make_model_dir(tmp_path: Path) -> Callable[..., Path]:
    """Builds a directory with a tiny model, golden file and manifest; returns the directory."""

    def make(name: str = "tiny", version: str = "1.0.0", **overrides: object) -> Path:
        directory = tmp_path / "src" / f"{name}-{version}"
        directory.mkdir(parents=True)
        tiny_classifier(directory / "model.onnx")
        tiny_golden(directory)
        tiny_manifest(directory, name, version, **overrides).save(directory)
        return directory

    return make


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    """An empty store in a temp dir."""
    return ModelStore(tmp_path / "store")


@pytest.fixture(scope="session")
def detector_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """A store holding the shipped person detector (no torch needed)."""
    from edge_llm_ros.app.prepare import prepare_models

    store = ModelStore(tmp_path_factory.mktemp("detector_store"))
    prepare_models(store, ["person_detector"])
    return store


@pytest.fixture(scope="session")
def classifier_store(sample_model_store: ModelStore) -> ModelStore:
    """roi_classifier FP32 + INT8: the shared sample store (test/conftest.py), prepared once and cached."""
    return sample_model_store


def imagenet_labels() -> LabelMap:
    """The real label map (re-exported for tests)."""
    return imagenet_label_map()
