"""Model manifests: typed dataclasses, read and written through one JSON Schema (manifest_schema.py).

A manifest sits next to the model files in `<store>/<name>/<version>/manifest.json` and is the only
place anything about a model is written down: its files and their sha256, the input/output spec,
how to preprocess a crop for it, what its outputs mean (label map, detector outputs), where it came
from, its licence, the accuracy a replacement must keep, and the golden inputs that check it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from edge_llm_ros.models.errors import ManifestError
from edge_llm_ros.models.manifest_schema import SCHEMA_VERSION, check_document
from edge_llm_ros.models.manifest_schema import defaults as schema_defaults

MANIFEST_FILE = "manifest.json"

# A dimension is a size, or the name of a symbolic (dynamic) dimension such as "batch".
Dim = int | str


def _optional(data: Mapping[str, Any], section: str) -> dict[str, Any]:
    """The optional fields of a checked section: present values over the schema's defaults."""
    return {key: data.get(key, default) for key, default in schema_defaults(section).items()}


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape (ints, or strings for symbolic dims) and numpy dtype name of one model input/output."""

    name: str
    shape: tuple[Dim, ...]
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TensorSpec:
        """Parse and check one tensor spec."""
        check_document(data, where, "tensor")
        dtype = data["dtype"]
        try:
            np.dtype(dtype)
        except TypeError as exc:
            raise ManifestError(f"{where}.dtype: {dtype!r} is not a numpy dtype") from exc
        return cls(name=data["name"], shape=tuple(data["shape"]), dtype=dtype)


@dataclass(frozen=True)
class PreprocessSpec:
    """How to turn an HWC uint8 image crop into one item of the model's input batch.

    value = (pixel - mean[c]) / std[c], pixels in `color_order`, resized to height x width
    (letterboxed with `pad_value` borders, or stretched), laid out as `layout`, cast to `dtype`.
    """

    input_name: str
    layout: str
    height: int
    width: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: int = 3
    color_order: str = "RGB"
    dtype: str = "float32"
    resize: str = "letterbox"
    pad_value: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "input_name": self.input_name,
            "layout": self.layout,
            "height": self.height,
            "width": self.width,
            "channels": self.channels,
            "color_order": self.color_order,
            "dtype": self.dtype,
            "mean": list(self.mean),
            "std": list(self.std),
            "resize": self.resize,
            "pad_value": self.pad_value,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> PreprocessSpec:
        """Parse and check a preprocessing spec."""
        check_document(data, where, "preprocess")
        spec = cls(
            input_name=data["input_name"],
            layout=data["layout"],
            height=data["height"],
            width=data["width"],
            mean=tuple(float(v) for v in data["mean"]),
            std=tuple(float(v) for v in data["std"]),
            **_optional(data, "preprocess"),
        )
        if len(spec.mean) != spec.channels or len(spec.std) != spec.channels:
            raise ManifestError(f"{where}: mean and std need one value per channel ({spec.channels})")
        if any(s == 0 for s in spec.std):
            raise ManifestError(f"{where}.std: a zero std would divide by zero")
        return spec


@dataclass(frozen=True)
class FileEntry:
    """One file of a model, relative to its version directory, pinned by sha256."""

    path: str
    sha256: str
    size_bytes: int
    role: str = "model"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"path": self.path, "sha256": self.sha256, "size_bytes": self.size_bytes, "role": self.role}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> FileEntry:
        """Parse and check one file entry (relative path inside the model directory, 64-hex sha256)."""
        check_document(data, where, "file")
        entry = cls(
            path=data["path"], sha256=data["sha256"].lower(), size_bytes=data["size_bytes"], **_optional(data, "file")
        )
        rel = PurePosixPath(entry.path)
        if rel.is_absolute() or ".." in rel.parts or "\\" in entry.path:
            raise ManifestError(f"{where}.path: {entry.path!r} must be a relative path inside the model directory")
        return entry


@dataclass(frozen=True)
class LabelMap:
    """Maps the model's raw class ids (ImageNet, COCO) to this package's classes.

    `classes[i]` is our class id i. A source id missing from `source_to_class` belongs to
    `default_class` when one is set (e.g. "other"), else it is ignored.
    """

    classes: tuple[str, ...]
    source: str
    source_to_class: Mapping[int, str]
    source_names: Mapping[int, str] = field(default_factory=dict)
    default_class: str | None = None

    def class_id(self, name: str) -> int:
        """Index of one of our class names."""
        try:
            return self.classes.index(name)
        except ValueError as exc:
            raise KeyError(f"unknown class {name!r}; classes are {list(self.classes)}") from exc

    def source_ids(self, name: str) -> tuple[int, ...]:
        """Every source id mapped to our class `name`, sorted."""
        return tuple(sorted(i for i, c in self.source_to_class.items() if c == name))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; the table lists each source id with its source name for review."""
        return {
            "classes": list(self.classes),
            "source": self.source,
            "default_class": self.default_class,
            "table": [
                {"source_id": i, "source_name": self.source_names.get(i, ""), "class": c}
                for i, c in sorted(self.source_to_class.items())
            ],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> LabelMap:
        """Parse and check a label map: every mapped class must be one of `classes`."""
        check_document(data, where, "labels")
        classes = tuple(data["classes"])
        default = _optional(data, "labels")["default_class"]
        mapping: dict[int, str] = {}
        names: dict[int, str] = {}
        for i, row in enumerate(data["table"]):
            sid = row["source_id"]
            cls_name = row["class"]
            if cls_name not in classes:
                raise ManifestError(f"{where}.table[{i}]: class {cls_name!r} is not in classes {list(classes)}")
            if sid in mapping:
                raise ManifestError(f"{where}.table[{i}]: source id {sid} is mapped twice")
            mapping[sid] = cls_name
            names[sid] = _optional(row, "label_row")["source_name"]
        if default is not None and default not in classes:
            raise ManifestError(f"{where}.default_class: {default!r} is not in classes {list(classes)}")
        return cls(classes=classes, source=data["source"], source_to_class=mapping, source_names=names,
                   default_class=default)


@dataclass(frozen=True)
class DetectorSpec:
    """What a detector's raw outputs are: which output holds boxes/scores/classes/count and the box format."""

    boxes_output: str
    scores_output: str
    classes_output: str
    count_output: str
    box_format: str = "yxyx_normalized"
    max_detections: int = 100
    score_threshold: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "boxes_output": self.boxes_output,
            "scores_output": self.scores_output,
            "classes_output": self.classes_output,
            "count_output": self.count_output,
            "box_format": self.box_format,
            "max_detections": self.max_detections,
            "score_threshold": self.score_threshold,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> DetectorSpec:
        """Parse and check a detector output spec."""
        check_document(data, where, "detector")
        optional = _optional(data, "detector")
        optional["score_threshold"] = float(optional["score_threshold"])
        return cls(
            boxes_output=data["boxes_output"],
            scores_output=data["scores_output"],
            classes_output=data["classes_output"],
            count_output=data["count_output"],
            **optional,
        )


@dataclass(frozen=True)
class Provenance:
    """Where the weights came from and every step that turned them into this file."""

    source_package: str
    source_version: str
    source_license: str
    steps: tuple[str, ...]
    tools: Mapping[str, str] = field(default_factory=dict)
    source_files: Mapping[str, str] = field(default_factory=dict)
    created_utc: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "source_package": self.source_package,
            "source_version": self.source_version,
            "source_license": self.source_license,
            "source_files": dict(self.source_files),
            "tools": dict(self.tools),
            "steps": list(self.steps),
            "created_utc": self.created_utc,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Provenance:
        """Parse provenance."""
        check_document(data, where, "provenance")
        optional = _optional(data, "provenance")
        return cls(
            source_package=data["source_package"],
            source_version=data["source_version"],
            source_license=data["source_license"],
            steps=tuple(data["steps"]),
            source_files=dict(optional["source_files"]),
            tools=dict(optional["tools"]),
            created_utc=optional["created_utc"],
        )


@dataclass(frozen=True)
class AccuracyGate:
    """The deployment threshold: a model (or a replacement) must agree with the golden reference.

    Agreement is `metric` measured on the golden inputs against the reference outputs stored in the
    golden file (produced by `reference_version`, e.g. the FP32 baseline). A model is deployable when
    agreement >= 1 - max_drop. `measured` records what was measured when the model was prepared.
    """

    metric: str
    max_drop: float
    reference_version: str | None = None
    measured: Mapping[str, float] = field(default_factory=dict)

    @property
    def min_agreement(self) -> float:
        """Lowest agreement that still passes."""
        return 1.0 - self.max_drop

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "metric": self.metric,
            "max_drop": self.max_drop,
            "reference_version": self.reference_version,
            "measured": dict(self.measured),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> AccuracyGate:
        """Parse and check the gate (0 <= max_drop <= 1)."""
        check_document(data, where, "accuracy")
        optional = _optional(data, "accuracy")
        return cls(
            metric=data["metric"],
            max_drop=float(data["max_drop"]),
            reference_version=optional["reference_version"],
            measured={k: float(v) for k, v in optional["measured"].items()},
        )


@dataclass(frozen=True)
class GoldenSpec:
    """The golden file (an .npz listed in `files`) and what it holds."""

    file: str
    count: int
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"file": self.file, "count": self.count, "description": self.description}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> GoldenSpec:
        """Parse the golden spec."""
        check_document(data, where, "golden")
        return cls(file=data["file"], count=data["count"], **_optional(data, "golden"))


@dataclass(frozen=True)
class Manifest:
    """Everything known about one version of one model."""

    name: str
    version: str
    kind: str
    model_file: str
    files: tuple[FileEntry, ...]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    license: str
    provenance: Provenance
    accuracy: AccuracyGate
    preprocess: PreprocessSpec | None = None
    labels: LabelMap | None = None
    detector: DetectorSpec | None = None
    golden: GoldenSpec | None = None
    description: str = ""
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        """Refuse an inconsistent manifest as soon as it is built or parsed."""
        where = f"manifest {self.name}/{self.version}"
        # A manifest built in code meets the same schema as one read from a file.
        check_document(self.to_dict(), where)
        paths = [f.path for f in self.files]
        if len(set(paths)) != len(paths):
            raise ManifestError(f"{where}: a file is listed twice in files")
        if self.model_file not in paths:
            raise ManifestError(f"{where}: model_file {self.model_file!r} is not listed in files")
        if self.golden is not None and self.golden.file not in paths:
            raise ManifestError(f"{where}: golden file {self.golden.file!r} is not listed in files")
        for group, specs in (("inputs", self.inputs), ("outputs", self.outputs)):
            names = [s.name for s in specs]
            if not names:
                raise ManifestError(f"{where}: {group} is empty")
            if len(set(names)) != len(names):
                raise ManifestError(f"{where}: duplicate names in {group}")
        input_names = {s.name for s in self.inputs}
        output_names = {s.name for s in self.outputs}
        if self.preprocess is not None and self.preprocess.input_name not in input_names:
            raise ManifestError(f"{where}: preprocess.input_name {self.preprocess.input_name!r} is not an input")
        if self.detector is not None:
            for out in (self.detector.boxes_output, self.detector.scores_output, self.detector.classes_output,
                        self.detector.count_output):
                if out not in output_names:
                    raise ManifestError(f"{where}: detector output {out!r} is not an output of the model")

    def file(self, path: str) -> FileEntry:
        """The entry of one listed file."""
        for entry in self.files:
            if entry.path == path:
                return entry
        raise KeyError(f"{path!r} is not listed in manifest {self.name}/{self.version}")

    @property
    def model_entry(self) -> FileEntry:
        """The entry of the ONNX model file."""
        return self.file(self.model_file)

    @property
    def model_id(self) -> str:
        """`name@version`, the id used on the command line and in swap requests."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stable key order)."""
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "description": self.description,
            "license": self.license,
            "model_file": self.model_file,
            "files": [f.to_dict() for f in self.files],
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "preprocess": self.preprocess.to_dict() if self.preprocess else None,
            "labels": self.labels.to_dict() if self.labels else None,
            "detector": self.detector.to_dict() if self.detector else None,
            "accuracy": self.accuracy.to_dict(),
            "golden": self.golden.to_dict() if self.golden else None,
            "provenance": self.provenance.to_dict(),
        }
        return out

    def to_json(self) -> str:
        """Pretty JSON text (the schema was checked when the manifest was built: nothing unreadable is written)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, where: str = "manifest") -> Manifest:
        """Parse and validate; raises ManifestError naming the offending field."""
        check_document(data, where)

        def sub(key: str, parser: Any) -> Any:
            value = data.get(key)
            return None if value is None else parser(value, f"{where}.{key}")

        return cls(
            schema_version=data["schema_version"],
            name=data["name"],
            version=data["version"],
            kind=data["kind"],
            description=_optional(data, "")["description"],
            license=data["license"],
            model_file=data["model_file"],
            files=tuple(FileEntry.from_dict(f, f"{where}.files[{i}]") for i, f in enumerate(data["files"])),
            inputs=tuple(TensorSpec.from_dict(t, f"{where}.inputs[{i}]") for i, t in enumerate(data["inputs"])),
            outputs=tuple(TensorSpec.from_dict(t, f"{where}.outputs[{i}]") for i, t in enumerate(data["outputs"])),
            preprocess=sub("preprocess", PreprocessSpec.from_dict),
            labels=sub("labels", LabelMap.from_dict),
            detector=sub("detector", DetectorSpec.from_dict),
            accuracy=AccuracyGate.from_dict(data["accuracy"], f"{where}.accuracy"),
            golden=sub("golden", GoldenSpec.from_dict),
            provenance=Provenance.from_dict(data["provenance"], f"{where}.provenance"),
        )

    def save(self, directory: Path) -> Path:
        """Write `manifest.json` into `directory`; returns its path."""
        path = Path(directory) / MANIFEST_FILE
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read a manifest file (or the manifest.json of a directory)."""
        path = Path(path)
        if path.is_dir():
            path = path / MANIFEST_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ManifestError(f"cannot read manifest {path}: {exc.strerror or exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        return cls.from_dict(data, where=str(path))
