from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_llm_ros.models.errors import ManifestError
from edge_llm_ros.models.golden import GoldenSet
from edge_llm_ros.models.labels import IMAGENET_TABLE, ROI_CLASSES, ClassRollup, imagenet_label_map
from edge_llm_ros.models.manifest import Manifest

from .conftest import tiny_manifest


def _data(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "manifest.json").read_text())


def _write(directory: Path, data: dict[str, Any]) -> Path:
    path = directory / "manifest.json"
    path.write_text(json.dumps(data))
    return path


def test_round_trip_keeps_every_field(make_model_dir: Any) -> None:
    directory = make_model_dir()
    loaded = Manifest.load(directory)
    assert Manifest.from_dict(json.loads(loaded.to_json())) == loaded
    assert loaded.model_id == "tiny@1.0.0"
    assert loaded.inputs[0].shape == ("batch", 3, 8, 8)
    assert loaded.preprocess is not None and loaded.preprocess.mean == (127.0, 127.0, 127.0)
    assert loaded.labels is not None and loaded.labels.source_to_class[1] == "b"
    assert loaded.model_entry.role == "model" and loaded.file("golden.npz").role == "golden"


def test_real_label_map_round_trips_and_documents_names() -> None:
    labels = imagenet_label_map()
    data = json.loads(json.dumps(labels.to_dict()))
    assert data["table"][0].keys() == {"source_id", "source_name", "class"}
    from edge_llm_ros.models.manifest import LabelMap

    assert LabelMap.from_dict(data, "labels") == labels
    assert set(labels.source_to_class.values()) <= set(ROI_CLASSES)
    assert labels.source_ids("bus") == (654, 779, 874)
    assert IMAGENET_TABLE[817] == ("sports car", "car")


def test_rollup_sums_probabilities_into_roi_classes() -> None:
    rollup = ClassRollup(imagenet_label_map(), 1000)
    logits = np.full((2, 1000), -20.0, dtype=np.float32)
    logits[0, 817] = 10.0  # sports car
    logits[1, 967] = 10.0  # espresso -> other
    ids, scores = rollup.classify(logits)
    assert [ROI_CLASSES[i] for i in ids] == ["car", "other"]
    assert np.all(scores > 0.99)
    probs = rollup(np.full((1, 1000), 1 / 1000, dtype=np.float32))
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("name"), "missing field 'name'"),
        (lambda d: d.update(kind="segmenter"), "'segmenter' is not one of"),
        (lambda d: d.update(schema_version=99), "schema_version: 99 is not supported"),
        (lambda d: d["files"][0].update(sha256="abc"), "is not 64 hex digits"),
        (lambda d: d["files"][0].update(path="../evil.onnx"), "must be a relative path inside the model directory"),
        (lambda d: d.update(model_file="other.onnx"), "model_file 'other.onnx' is not listed in files"),
        (lambda d: d["golden"].update(file="nope.npz"), "golden file 'nope.npz' is not listed"),
        (lambda d: d["inputs"][0].update(dtype="floaty"), "is not a numpy dtype"),
        (lambda d: d["inputs"][0]["shape"].__setitem__(1, -3), "expected a size >= 0 or a symbolic name"),
        (lambda d: d["preprocess"].update(std=[1.0, 0.0, 1.0]), "a zero std would divide by zero"),
        (lambda d: d["preprocess"].update(layout="CHWN"), "'CHWN' is not one of"),
        (lambda d: d["labels"]["table"][0].update(**{"class": "zebra"}), "class 'zebra' is not in classes"),
        (lambda d: d["accuracy"].update(max_drop=1.5), "max_drop: 1.5 is not within [0, 1]"),
        (lambda d: d["accuracy"].update(metric="vibes"), "'vibes' is not one of"),
        (lambda d: d.update(version="latest"), "is not a valid version string"),
        (lambda d: d.update(name="Bad Name"), "must be lower-case letters"),
        (lambda d: d.pop("provenance"), "missing field 'provenance'"),
    ],
)
def test_invalid_manifests_are_refused_with_the_field_named(make_model_dir: Any, mutate: Any, message: str) -> None:
    directory = make_model_dir()
    data = _data(directory)
    mutate(data)
    path = _write(directory, data)
    with pytest.raises(ManifestError) as info:
        Manifest.load(path)
    assert message in str(info.value)


def test_unreadable_manifest_files(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read manifest"):
        Manifest.load(tmp_path / "missing.json")
    bad = tmp_path / "manifest.json"
    bad.write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        Manifest.load(bad)


def test_manifest_dataclass_checks_consistency(make_model_dir: Any) -> None:
    directory = make_model_dir()
    with pytest.raises(ManifestError, match=re.escape("preprocess.input_name 'x' is not an input")):
        from edge_llm_ros.models.manifest import TensorSpec

        tiny_manifest(directory, inputs=(TensorSpec("image", ("batch", 3, 8, 8), "float32"),))


def test_golden_round_trip_without_pickle(tmp_path: Path) -> None:
    golden = GoldenSet({"x": np.ones((2, 3), np.float32)}, {"y": np.zeros((2,), np.float32)},
                       {"top1": np.array([1, 2], np.int64)})
    loaded = GoldenSet.load(golden.save(tmp_path / "g.npz"))
    assert loaded.count == 2
    np.testing.assert_array_equal(loaded.reference["top1"], [1, 2])
    with pytest.raises(ValueError, match="dtype object"):
        GoldenSet({"x": np.array([object()], dtype=object)}).save(tmp_path / "o.npz")
    # An npz holding a pickled object array is refused (allow_pickle=False), not executed.
    np.savez(tmp_path / "p.npz", **{"input.x": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ManifestError, match="not a readable golden"):
        GoldenSet.load(tmp_path / "p.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ManifestError, match="not a readable golden"):
        GoldenSet.load(tmp_path / "junk.npz")
