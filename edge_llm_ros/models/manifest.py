"""Model manifests: typed dataclasses, JSON round trip and validation with clear errors.

A manifest sits next to the model files in `<store>/<name>/<version>/manifest.json` and is the only
place anything about a model is written down: its files and their sha256, the input/output spec,
how to preprocess a crop for it, what its outputs mean (label map, detector outputs), where it came
from, its licence, the accuracy a replacement must keep, and the golden inputs that check it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from edge_llm_ros.models.errors import ManifestError

SCHEMA_VERSION = 1
MANIFEST_FILE = "manifest.json"
KINDS = ("classifier", "detector", "llm")
LAYOUTS = ("NCHW", "NHWC")
RESIZE_MODES = ("letterbox", "stretch")
COLOR_ORDERS = ("RGB", "BGR")
FILE_ROLES = ("model", "weights", "golden", "other")
AGREEMENT_METRICS = ("top1_agreement", "person_box_agreement")
BOX_FORMATS = ("yxyx_normalized",)

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+\-]*$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")

# A dimension is a size, or the name of a symbolic (dynamic) dimension such as "batch".
Dim = int | str


class _Reader:
    """Pulls typed fields out of a JSON object, naming the field path in every error."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ManifestError(f"{where}: expected an object, got {type(data).__name__}")
        self._data = data
        self._where = where

    def _get(self, key: str, default: Any, required: bool) -> Any:
        if key not in self._data:
            if required:
                raise ManifestError(f"{self._where}: missing field '{key}'")
            return default
        return self._data[key]

    def str_(self, key: str, default: str | None = None, *, required: bool = True) -> str:
        value = self._get(key, default, required)
        if not isinstance(value, str):
            raise ManifestError(f"{self._where}.{key}: expected a string, got {value!r}")
        return value

    def opt_str(self, key: str) -> str | None:
        value = self._get(key, None, False)
        if value is not None and not isinstance(value, str):
            raise ManifestError(f"{self._where}.{key}: expected a string or null, got {value!r}")
        return value

    def int_(self, key: str, default: int | None = None, *, required: bool = True) -> int:
        value = self._get(key, default, required)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ManifestError(f"{self._where}.{key}: expected an integer, got {value!r}")
        return value

    def float_(self, key: str, default: float | None = None, *, required: bool = True) -> float:
        value = self._get(key, default, required)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ManifestError(f"{self._where}.{key}: expected a number, got {value!r}")
        return float(value)

    def list_(self, key: str, *, required: bool = True) -> list[Any]:
        value = self._get(key, [], required)
        if not isinstance(value, list):
            raise ManifestError(f"{self._where}.{key}: expected a list, got {type(value).__name__}")
        return value

    def obj(self, key: str, *, required: bool = True) -> _Reader | None:
        value = self._get(key, None, required)
        if value is None:
            return None
        return _Reader(value, f"{self._where}.{key}")

    def str_map(self, key: str) -> dict[str, str]:
        value = self._get(key, {}, False)
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ManifestError(f"{self._where}.{key}: expected an object of strings")
        return dict(value)

    def float_map(self, key: str) -> dict[str, float]:
        value = self._get(key, {}, False)
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) for k, v in value.items()
        ):
            raise ManifestError(f"{self._where}.{key}: expected an object of numbers")
        return {k: float(v) for k, v in value.items()}

    def floats(self, key: str) -> tuple[float, ...]:
        items = self.list_(key)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in items):
            raise ManifestError(f"{self._where}.{key}: expected a list of numbers, got {items!r}")
        return tuple(float(v) for v in items)

    def strs(self, key: str) -> tuple[str, ...]:
        items = self.list_(key)
        if not all(isinstance(v, str) for v in items):
            raise ManifestError(f"{self._where}.{key}: expected a list of strings, got {items!r}")
        return tuple(items)

    def choice(self, key: str, choices: Sequence[str], default: str | None = None, *, required: bool = True) -> str:
        value = self.str_(key, default, required=required)
        if value not in choices:
            raise ManifestError(f"{self._where}.{key}: {value!r} is not one of {list(choices)}")
        return value


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
        r = _Reader(data, where)
        shape: list[Dim] = []
        for i, dim in enumerate(r.list_("shape")):
            if isinstance(dim, bool) or not isinstance(dim, int | str) or (isinstance(dim, int) and dim < 0):
                raise ManifestError(f"{where}.shape[{i}]: expected a size >= 0 or a symbolic name, got {dim!r}")
            shape.append(dim)
        dtype = r.str_("dtype")
        try:
            np.dtype(dtype)
        except TypeError as exc:
            raise ManifestError(f"{where}.dtype: {dtype!r} is not a numpy dtype") from exc
        return cls(name=r.str_("name"), shape=tuple(shape), dtype=dtype)


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
        r = _Reader(data, where)
        spec = cls(
            input_name=r.str_("input_name"),
            layout=r.choice("layout", LAYOUTS),
            height=r.int_("height"),
            width=r.int_("width"),
            channels=r.int_("channels", 3, required=False),
            color_order=r.choice("color_order", COLOR_ORDERS, "RGB", required=False),
            dtype=r.str_("dtype", "float32", required=False),
            mean=r.floats("mean"),
            std=r.floats("std"),
            resize=r.choice("resize", RESIZE_MODES, "letterbox", required=False),
            pad_value=r.int_("pad_value", 0, required=False),
        )
        if spec.height <= 0 or spec.width <= 0 or spec.channels <= 0:
            raise ManifestError(f"{where}: height, width and channels must be > 0")
        if len(spec.mean) != spec.channels or len(spec.std) != spec.channels:
            raise ManifestError(f"{where}: mean and std need one value per channel ({spec.channels})")
        if any(s == 0 for s in spec.std):
            raise ManifestError(f"{where}.std: a zero std would divide by zero")
        if spec.dtype not in ("float32", "float16", "uint8"):
            raise ManifestError(f"{where}.dtype: {spec.dtype!r} is not float32, float16 or uint8")
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
        r = _Reader(data, where)
        entry = cls(
            path=r.str_("path"),
            sha256=r.str_("sha256").lower(),
            size_bytes=r.int_("size_bytes"),
            role=r.choice("role", FILE_ROLES, "model", required=False),
        )
        rel = PurePosixPath(entry.path)
        if rel.is_absolute() or ".." in rel.parts or not entry.path or "\\" in entry.path:
            raise ManifestError(f"{where}.path: {entry.path!r} must be a relative path inside the model directory")
        if not _SHA_RE.match(entry.sha256):
            raise ManifestError(f"{where}.sha256: {entry.sha256!r} is not 64 hex digits")
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
        r = _Reader(data, where)
        classes = r.strs("classes")
        default = r.opt_str("default_class")
        mapping: dict[int, str] = {}
        names: dict[int, str] = {}
        for i, row in enumerate(r.list_("table")):
            rr = _Reader(row, f"{where}.table[{i}]")
            sid = rr.int_("source_id")
            cls_name = rr.str_("class")
            if cls_name not in classes:
                raise ManifestError(f"{where}.table[{i}]: class {cls_name!r} is not in classes {list(classes)}")
            if sid in mapping:
                raise ManifestError(f"{where}.table[{i}]: source id {sid} is mapped twice")
            mapping[sid] = cls_name
            names[sid] = rr.str_("source_name", "", required=False)
        if default is not None and default not in classes:
            raise ManifestError(f"{where}.default_class: {default!r} is not in classes {list(classes)}")
        if len(set(classes)) != len(classes):
            raise ManifestError(f"{where}.classes: duplicate class names")
        return cls(classes=classes, source=r.str_("source"), source_to_class=mapping, source_names=names,
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
        r = _Reader(data, where)
        return cls(
            boxes_output=r.str_("boxes_output"),
            scores_output=r.str_("scores_output"),
            classes_output=r.str_("classes_output"),
            count_output=r.str_("count_output"),
            box_format=r.choice("box_format", BOX_FORMATS, "yxyx_normalized", required=False),
            max_detections=r.int_("max_detections", 100, required=False),
            score_threshold=r.float_("score_threshold", 0.5, required=False),
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
        r = _Reader(data, where)
        return cls(
            source_package=r.str_("source_package"),
            source_version=r.str_("source_version"),
            source_license=r.str_("source_license"),
            source_files=r.str_map("source_files"),
            tools=r.str_map("tools"),
            steps=r.strs("steps"),
            created_utc=r.str_("created_utc", "", required=False),
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
        r = _Reader(data, where)
        gate = cls(
            metric=r.choice("metric", AGREEMENT_METRICS),
            max_drop=r.float_("max_drop"),
            reference_version=r.opt_str("reference_version"),
            measured=r.float_map("measured"),
        )
        if not 0.0 <= gate.max_drop <= 1.0:
            raise ManifestError(f"{where}.max_drop: {gate.max_drop} is not within [0, 1]")
        return gate


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
        r = _Reader(data, where)
        return cls(file=r.str_("file"), count=r.int_("count"), description=r.str_("description", "", required=False))


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
        if not _NAME_RE.match(self.name):
            raise ManifestError(f"{where}: name {self.name!r} must be lower-case letters, digits, '_' or '-'")
        if not _VERSION_RE.match(self.version) or self.version == "latest":
            raise ManifestError(f"{where}: version {self.version!r} is not a valid version string")
        if self.kind not in KINDS:
            raise ManifestError(f"{where}: kind {self.kind!r} is not one of {list(KINDS)}")
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
        """Pretty JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, where: str = "manifest") -> Manifest:
        """Parse and validate; raises ManifestError naming the offending field."""
        r = _Reader(data, where)
        schema = r.int_("schema_version")
        if schema != SCHEMA_VERSION:
            raise ManifestError(f"{where}.schema_version: {schema} is not supported (this code reads {SCHEMA_VERSION})")

        def sub(key: str, parser: Any) -> Any:
            value = data.get(key)
            return None if value is None else parser(value, f"{where}.{key}")

        # Both are required: obj() raises a ManifestError naming the field when one is missing.
        r.obj("provenance")
        r.obj("accuracy")
        return cls(
            schema_version=schema,
            name=r.str_("name"),
            version=r.str_("version"),
            kind=r.choice("kind", KINDS),
            description=r.str_("description", "", required=False),
            license=r.str_("license"),
            model_file=r.str_("model_file"),
            files=tuple(FileEntry.from_dict(f, f"{where}.files[{i}]") for i, f in enumerate(r.list_("files"))),
            inputs=tuple(TensorSpec.from_dict(t, f"{where}.inputs[{i}]") for i, t in enumerate(r.list_("inputs"))),
            outputs=tuple(
                TensorSpec.from_dict(t, f"{where}.outputs[{i}]") for i, t in enumerate(r.list_("outputs"))
            ),
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
