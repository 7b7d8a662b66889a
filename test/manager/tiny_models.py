"""A model store of tiny ONNX classifiers (built with onnx.helper) for swap tests and benchmarks.

They run in microseconds, so a swap test or `bench swap` measures the manager, not the model.

Versions of `tiny_cls`, all with a real manifest and golden file:
  1.0.0 good (the initial model)          2.0.0 good (different weights, same interface)
  3.0.0 manifest pins a wrong sha256      4.0.0 corrupt model file (hash matches the garbage)
  5.0.0 wrong input shape (16x16)         6.0.0 fails its golden check
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_llm_ros.models.golden import GoldenSet
from edge_llm_ros.models.hashing import sha256_file
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

NAME = "tiny_cls"
CLASSES = ("car", "truck", "bus", "motorcycle", "bicycle", "person", "other")


def _weights(scale: float) -> np.ndarray:
    return (np.arange(15, dtype=np.float32).reshape(3, 5) / 10.0) * scale


def _model(path: Path, weights: np.ndarray, size: int) -> None:
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["x"], ["pooled"], axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["pooled", "w"], ["logits"]),
        ],
        "tiny_cls",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 5])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _version(
    store: ModelStore,
    version: str,
    *,
    scale: float = 1.0,
    size: int = 8,
    bad_sha: bool = False,
    corrupt: bool = False,
    bad_golden: bool = False,
) -> None:
    directory = store.root / NAME / version
    directory.mkdir(parents=True)
    weights = _weights(scale)
    _model(directory / "model.onnx", weights, size)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(4, 3, size, size)).astype(np.float32)
    logits = x.mean(axis=(2, 3)) @ weights
    top1 = logits.argmax(1).astype(np.int64)
    if bad_golden:
        top1 = (top1 + 1) % 5
    GoldenSet({"x": x}, {"logits": logits}, {"top1": top1}).save(directory / "golden.npz")
    if corrupt:
        (directory / "model.onnx").write_bytes(b"\x08\x07garbage, not an ONNX protobuf" * 40)
    model_sha = sha256_file(directory / "model.onnx")
    if bad_sha:
        model_sha = "0" * 64
    files = (
        FileEntry("model.onnx", model_sha, (directory / "model.onnx").stat().st_size),
        FileEntry(
            "golden.npz", sha256_file(directory / "golden.npz"), (directory / "golden.npz").stat().st_size, "golden"
        ),
    )
    Manifest(
        name=NAME,
        version=version,
        kind="classifier",
        model_file="model.onnx",
        files=files,
        inputs=(TensorSpec("x", ("batch", 3, size, size), "float32"),),
        outputs=(TensorSpec("logits", ("batch", 5), "float32"),),
        license="Apache-2.0",
        provenance=Provenance("test", "0", "Apache-2.0", steps=("built with onnx.helper in a test",)),
        accuracy=AccuracyGate("top1_agreement", 0.0, version, {}),
        preprocess=PreprocessSpec("x", "NCHW", size, size, (127.0, 127.0, 127.0), (128.0, 128.0, 128.0)),
        labels=LabelMap(
            CLASSES,
            "toy",
            {0: "car", 1: "truck", 2: "person", 3: "bicycle", 4: "bus"},
            {i: f"toy{i}" for i in range(5)},
            "other",
        ),
        golden=GoldenSpec("golden.npz", 4, "tiny golden"),
    ).save(directory)


def build_store(root: Path) -> ModelStore:
    """The store described in the module docstring."""
    store = ModelStore(root)
    _version(store, "1.0.0")
    _version(store, "2.0.0", scale=1.5)
    _version(store, "3.0.0", bad_sha=True)
    _version(store, "4.0.0", corrupt=True)
    _version(store, "5.0.0", size=16)
    _version(store, "6.0.0", bad_golden=True)
    return store
