"""Declared node parameters: type, default, range, choices; loaded from ROS 2 params YAML.

The YAML layout is the one `ros2 run ... --params-file` and launch_ros read:

    decision:                # node name, '/ns/node' or '/**' (all nodes)
      ros__parameters:
        ttc_brake_s: 1.5
        lane:                # nested mappings flatten to dotted names: lane.half_width_m
          half_width_m: 1.8

Validation happens at configure so a bad file fails the transition with a message naming the
parameter, and what was running keeps running.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ParameterError(ValueError):
    """A missing, unknown, mistyped or out-of-range parameter; the message names it."""


_TYPES: dict[str, type | tuple[type, ...]] = {
    "bool": bool,
    "int": int,
    "float": (int, float),
    "str": str,
    "list[float]": list,
    "list[int]": list,
    "list[str]": list,
}


@dataclass(frozen=True)
class ParameterSpec:
    """One declared parameter. `default=None` with `required=True` means it must be given."""

    name: str
    type: str
    default: Any = None
    description: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] = ()
    required: bool = False
    read_only: bool = False

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ParameterError(f"{self.name}: unknown parameter type {self.type!r}; use one of {list(_TYPES)}")
        if self.default is not None:
            self.check(self.default)

    def check(self, value: Any) -> Any:
        """Return `value` coerced to the declared type, or raise ParameterError naming the parameter."""
        expected = _TYPES[self.type]
        if isinstance(value, bool) and self.type != "bool":
            raise ParameterError(f"parameter {self.name!r} must be {self.type}, got bool {value!r}")
        if not isinstance(value, expected):
            raise ParameterError(
                f"parameter {self.name!r} must be {self.type}, got {type(value).__name__} {value!r}"
            )
        if self.type == "float":
            value = float(value)  # type: ignore[arg-type]  # isinstance above admits int | float
            if not math.isfinite(value):
                raise ParameterError(f"parameter {self.name!r} must be finite, got {value!r}")
        if self.type.startswith("list["):
            inner = self.type[5:-1]
            items = [ParameterSpec(f"{self.name}[{i}]", inner).check(v) for i, v in enumerate(value)]
            value = items
            for item in items if inner != "str" else []:
                self._check_range(item)
        else:
            self._check_range(value)
        if self.choices and value not in self.choices:
            raise ParameterError(f"parameter {self.name!r} must be one of {list(self.choices)}, got {value!r}")
        return value

    def _check_range(self, value: Any) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.min is not None and value < self.min:
                raise ParameterError(f"parameter {self.name!r} = {value!r} is below its minimum {self.min}")
            if self.max is not None and value > self.max:
                raise ParameterError(f"parameter {self.name!r} = {value!r} is above its maximum {self.max}")


@dataclass
class ParameterSchema:
    """The declared parameters of a node class."""

    specs: dict[str, ParameterSpec] = field(default_factory=dict)

    @classmethod
    def of(cls, *specs: ParameterSpec) -> ParameterSchema:
        """Build a schema; duplicate names are a programming error."""
        schema = cls()
        for spec in specs:
            if spec.name in schema.specs:
                raise ParameterError(f"parameter {spec.name!r} declared twice")
            schema.specs[spec.name] = spec
        return schema

    def __add__(self, other: ParameterSchema) -> ParameterSchema:
        return ParameterSchema.of(*self.specs.values(), *other.specs.values())

    def resolve(self, overrides: Mapping[str, Any], node: str = "node") -> dict[str, Any]:
        """Defaults overlaid with `overrides`, each checked; unknown or missing names raise."""
        unknown = sorted(set(overrides) - set(self.specs))
        if unknown:
            raise ParameterError(
                f"node {node!r}: unknown parameter(s) {unknown}; declared: {sorted(self.specs)}"
            )
        values: dict[str, Any] = {}
        for name, spec in self.specs.items():
            if name in overrides:
                try:
                    values[name] = spec.check(overrides[name])
                except ParameterError as exc:
                    raise ParameterError(f"node {node!r}: {exc}") from None
            elif spec.required or spec.default is None:
                if spec.required:
                    raise ParameterError(f"node {node!r}: required parameter {name!r} is missing")
                values[name] = None
            else:
                values[name] = spec.check(spec.default)
        return values

    def describe(self) -> Iterable[ParameterSpec]:
        """Specs in declaration order (for `--help`, `ros2 param describe` and the README)."""
        return self.specs.values()


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameter mappings to dotted names, as rclpy does for params files."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _node_keys(node_name: str, namespace: str) -> list[str]:
    ns = namespace.rstrip("/")
    return ["/**", "**", f"{ns}/**" if ns else "/**", node_name, f"/{node_name}", f"{ns}/{node_name}"]


def params_for_node(document: Mapping[str, Any], node_name: str, namespace: str = "/") -> dict[str, Any]:
    """The flattened parameters a params file gives `node_name`, wildcard sections first."""
    found: dict[str, Any] = {}
    for key in _node_keys(node_name, namespace):
        section = document.get(key)
        if isinstance(section, Mapping):
            params = section.get("ros__parameters")
            if not isinstance(params, Mapping):
                raise ParameterError(f"section {key!r} has no 'ros__parameters' mapping")
            found.update(flatten(params))
    return found


def load_params_file(path: str | Path) -> dict[str, Any]:
    """Parse a params YAML; a missing file or bad YAML raises ParameterError naming the file."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ParameterError(f"cannot read parameters file {p}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ParameterError(f"parameters file {p} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ParameterError(f"parameters file {p} must be a mapping of node names")
    return data
