"""The JSON Schema of manifest.json: every manifest is checked against it when read and when written.

What JSON Schema can say (types, required fields, enums, patterns, ranges) is said here, once;
manifest.py keeps only the checks that span fields (mean/std per channel, label classes, listed
files). `x-error` is our own keyword: the message a failure of that sub-schema reports, formatted
with the offending `value`, so errors read the same as before the schema existed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema

from edge_llm_ros.models.errors import ManifestError

SCHEMA_VERSION = 1
KINDS = ("classifier", "detector", "llm")
LAYOUTS = ("NCHW", "NHWC")
RESIZE_MODES = ("letterbox", "stretch")
COLOR_ORDERS = ("RGB", "BGR")
FILE_ROLES = ("model", "weights", "golden", "other")
AGREEMENT_METRICS = ("top1_agreement", "person_box_agreement")
BOX_FORMATS = ("yxyx_normalized",)
PREPROCESS_DTYPES = ("float32", "float16", "uint8")

NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]*$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+\-]*$"
SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"

_STR = {"type": "string"}
_NUMBER = {"type": "number"}
_STR_MAP = {"type": "object", "additionalProperties": _STR}


def _enum(values: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def _object(required: list[str], properties: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": dict(properties)}


def _nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"anyOf": [{"type": "null"}, dict(schema)]}


_TENSOR = _object(
    ["name", "shape", "dtype"],
    {
        "name": _STR,
        "shape": {
            "type": "array",
            "items": {
                "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}],
                "x-error": "expected a size >= 0 or a symbolic name, got {value!r}",
            },
        },
        "dtype": _STR,
    },
)

_PREPROCESS = _object(
    ["input_name", "layout", "height", "width", "mean", "std"],
    {
        "input_name": _STR,
        "layout": _enum(LAYOUTS),
        "height": {"type": "integer", "exclusiveMinimum": 0},
        "width": {"type": "integer", "exclusiveMinimum": 0},
        "channels": {"type": "integer", "exclusiveMinimum": 0, "default": 3},
        "color_order": {**_enum(COLOR_ORDERS), "default": "RGB"},
        "dtype": {**_enum(PREPROCESS_DTYPES), "default": "float32"},
        "mean": {"type": "array", "items": _NUMBER},
        "std": {"type": "array", "items": _NUMBER},
        "resize": {**_enum(RESIZE_MODES), "default": "letterbox"},
        "pad_value": {"type": "integer", "default": 0},
    },
)

_FILE = _object(
    ["path", "sha256", "size_bytes"],
    {
        "path": {"type": "string", "minLength": 1},
        "sha256": {"type": "string", "pattern": SHA256_PATTERN, "x-error": "{value!r} is not 64 hex digits"},
        "size_bytes": {"type": "integer", "minimum": 0},
        "role": {**_enum(FILE_ROLES), "default": "model"},
    },
)

_LABELS = _object(
    ["classes", "source", "table"],
    {
        "classes": {"type": "array", "items": _STR, "uniqueItems": True},
        "source": _STR,
        "default_class": {"type": ["string", "null"], "default": None},
        "table": {
            "type": "array",
            "items": _object(
                ["source_id", "class"],
                {"source_id": {"type": "integer"}, "source_name": {**_STR, "default": ""}, "class": _STR},
            ),
        },
    },
)

_DETECTOR = _object(
    ["boxes_output", "scores_output", "classes_output", "count_output"],
    {
        "boxes_output": _STR,
        "scores_output": _STR,
        "classes_output": _STR,
        "count_output": _STR,
        "box_format": {**_enum(BOX_FORMATS), "default": "yxyx_normalized"},
        "max_detections": {"type": "integer", "default": 100},
        "score_threshold": {**_NUMBER, "default": 0.5},
    },
)

_PROVENANCE = _object(
    ["source_package", "source_version", "source_license", "steps"],
    {
        "source_package": _STR,
        "source_version": _STR,
        "source_license": _STR,
        "source_files": {**_STR_MAP, "default": {}},
        "tools": {**_STR_MAP, "default": {}},
        "steps": {"type": "array", "items": _STR},
        "created_utc": {**_STR, "default": ""},
    },
)

_ACCURACY = _object(
    ["metric", "max_drop"],
    {
        "metric": _enum(AGREEMENT_METRICS),
        "max_drop": {"type": "number", "minimum": 0, "maximum": 1, "x-error": "{value} is not within [0, 1]"},
        "reference_version": {"type": ["string", "null"], "default": None},
        "measured": {"type": "object", "additionalProperties": _NUMBER, "default": {}},
    },
)

_GOLDEN = _object(
    ["file", "count"], {"file": _STR, "count": {"type": "integer"}, "description": {**_STR, "default": ""}}
)

MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "edge_llm_ros/model-manifest/1",
    "title": "edge_llm_ros model manifest",
    **_object(
        ["schema_version", "name", "version", "kind", "license", "model_file", "files", "inputs", "outputs",
         "provenance", "accuracy"],
        {
            "schema_version": {
                "const": SCHEMA_VERSION,
                "x-error": f"{{value}} is not supported (this code reads {SCHEMA_VERSION})",
            },
            "name": {
                "type": "string",
                "pattern": NAME_PATTERN,
                "x-error": "name {value!r} must be lower-case letters, digits, '_' or '-'",
            },
            "version": {
                "type": "string",
                "pattern": VERSION_PATTERN,
                "not": {"const": "latest"},
                "x-error": "version {value!r} is not a valid version string",
            },
            "kind": _enum(KINDS),
            "description": {**_STR, "default": ""},
            "license": _STR,
            "model_file": _STR,
            "files": {"type": "array", "items": _FILE},
            "inputs": {"type": "array", "items": _TENSOR, "minItems": 1},
            "outputs": {"type": "array", "items": _TENSOR, "minItems": 1},
            "preprocess": _nullable(_PREPROCESS),
            "labels": _nullable(_LABELS),
            "detector": _nullable(_DETECTOR),
            "accuracy": _ACCURACY,
            "golden": _nullable(_GOLDEN),
            "provenance": _PROVENANCE,
        },
    ),
}



def _field_path(where: str, path: Iterator[Any]) -> str:
    text = where
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _message(error: jsonschema.ValidationError, where: str) -> str:
    """One error as `<where>.<field path>: <what is wrong>`."""
    if error.validator == "required":
        missing = next(k for k in error.validator_value if k not in error.instance)
        return f"{_field_path(where, iter(error.absolute_path))}: missing field '{missing}'"
    found: jsonschema.ValidationError | None = error
    while found is not None:  # the innermost sub-schema with its own message wins
        custom = found.schema.get("x-error") if isinstance(found.schema, Mapping) else None
        if custom:
            return f"{_field_path(where, iter(found.absolute_path))}: {custom.format(value=found.instance)}"
        found = found.parent
    return f"{_field_path(where, iter(error.absolute_path))}: {error.message}"


def check_document(data: Any, where: str, section: str = "") -> None:
    """Raise ManifestError naming the first offending field when `data` does not follow the schema.

    `section` checks one part on its own ('labels', 'file', ...; '' = a whole manifest).
    """
    if not isinstance(data, Mapping):
        raise ManifestError(f"{where}: expected an object, got {type(data).__name__}")
    error = jsonschema.exceptions.best_match(_VALIDATORS[section].iter_errors(data))
    if error is not None:
        raise ManifestError(_message(error, where))


def defaults(section: str) -> dict[str, Any]:
    """The schema's default of every optional field of one section ('' = the top level)."""
    schema: Mapping[str, Any] = MANIFEST_SCHEMA if not section else _SECTIONS[section]
    return {k: v["default"] for k, v in schema["properties"].items() if isinstance(v, Mapping) and "default" in v}


_SECTIONS: dict[str, Mapping[str, Any]] = {
    "tensor": _TENSOR,
    "preprocess": _PREPROCESS,
    "file": _FILE,
    "labels": _LABELS,
    "label_row": _LABELS["properties"]["table"]["items"],
    "detector": _DETECTOR,
    "provenance": _PROVENANCE,
    "accuracy": _ACCURACY,
    "golden": _GOLDEN,
}
_VALIDATORS = {
    name: jsonschema.Draft202012Validator(schema) for name, schema in {"": MANIFEST_SCHEMA, **_SECTIONS}.items()
}
