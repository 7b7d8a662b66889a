"""Input/output specs read from an onnxruntime session, and the checks a batch must pass.

Nothing about a model is hard-coded: names, shapes (with symbolic dims) and dtypes come from the
model file, and are compared with the manifest so a model that disagrees with its manifest is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_llm_ros.models.errors import ModelSpecError
from edge_llm_ros.models.manifest import Manifest, TensorSpec

# onnxruntime's type strings -> numpy dtypes.
ORT_DTYPES: dict[str, np.dtype[Any]] = {
    "tensor(float)": np.dtype(np.float32),
    "tensor(float16)": np.dtype(np.float16),
    "tensor(double)": np.dtype(np.float64),
    "tensor(uint8)": np.dtype(np.uint8),
    "tensor(int8)": np.dtype(np.int8),
    "tensor(uint16)": np.dtype(np.uint16),
    "tensor(int16)": np.dtype(np.int16),
    "tensor(int32)": np.dtype(np.int32),
    "tensor(uint32)": np.dtype(np.uint32),
    "tensor(int64)": np.dtype(np.int64),
    "tensor(uint64)": np.dtype(np.uint64),
    "tensor(bool)": np.dtype(np.bool_),
}

# A dimension as onnxruntime reports it: a size, a symbolic name, or None when unknown.
OrtDim = int | str | None


def _fmt_shape(shape: Sequence[object]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


@dataclass(frozen=True)
class TensorInfo:
    """One input or output of a loaded model."""

    name: str
    shape: tuple[OrtDim, ...]
    dtype: np.dtype[Any]

    @property
    def rank(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def dynamic_dims(self) -> tuple[int, ...]:
        """Indices of dimensions that are not fixed sizes."""
        return tuple(i for i, d in enumerate(self.shape) if not isinstance(d, int))

    def describe(self) -> str:
        """e.g. `input (batch, 3, 224, 224) float32`."""
        return f"{self.name} {_fmt_shape(self.shape)} {self.dtype.name}"

    def to_spec(self) -> TensorSpec:
        """As a manifest TensorSpec (unknown dims get a positional symbolic name)."""
        dims = tuple(d if d is not None else f"dim{i}" for i, d in enumerate(self.shape))
        return TensorSpec(name=self.name, shape=dims, dtype=self.dtype.name)

    @classmethod
    def from_ort(cls, node: Any) -> TensorInfo:
        """From an onnxruntime NodeArg."""
        dtype = ORT_DTYPES.get(node.type)
        if dtype is None:
            raise ModelSpecError(f"{node.name}: unsupported tensor type {node.type}")
        shape = tuple(d if isinstance(d, int | str) else None for d in node.shape)
        return cls(name=node.name, shape=shape, dtype=dtype)


def read_io(session: Any) -> tuple[tuple[TensorInfo, ...], tuple[TensorInfo, ...]]:
    """(inputs, outputs) of an onnxruntime InferenceSession."""
    return (
        tuple(TensorInfo.from_ort(n) for n in session.get_inputs()),
        tuple(TensorInfo.from_ort(n) for n in session.get_outputs()),
    )


def compare_with_manifest(
    inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo], manifest: Manifest
) -> list[str]:
    """Every way the model's I/O disagrees with the manifest's spec (empty list: they agree).

    Names, dtypes and ranks must match; a fixed size must match a fixed size, and a dynamic dim must
    be dynamic on both sides (symbolic names may differ).
    """
    problems: list[str] = []
    for group, actual, declared in (("input", inputs, manifest.inputs), ("output", outputs, manifest.outputs)):
        by_name = {t.name: t for t in actual}
        declared_names = {s.name for s in declared}
        for extra in sorted(set(by_name) - declared_names):
            problems.append(f"model has {group} {extra!r} that the manifest does not declare")
        for spec in declared:
            info = by_name.get(spec.name)
            if info is None:
                problems.append(f"manifest declares {group} {spec.name!r} but the model has no such {group}")
                continue
            if info.dtype != np.dtype(spec.dtype):
                problems.append(f"{group} {spec.name!r}: model dtype {info.dtype.name}, manifest {spec.dtype}")
            if info.rank != len(spec.shape):
                problems.append(
                    f"{group} {spec.name!r}: model shape {_fmt_shape(info.shape)}, manifest {_fmt_shape(spec.shape)}"
                )
                continue
            for axis, (have, want) in enumerate(zip(info.shape, spec.shape, strict=True)):
                if isinstance(have, int) != isinstance(want, int) or (isinstance(have, int) and have != want):
                    problems.append(
                        f"{group} {spec.name!r} dim {axis}: model {_fmt_shape(info.shape)}, "
                        f"manifest {_fmt_shape(spec.shape)}"
                    )
                    break
    return problems


def check_feed(inputs: Sequence[TensorInfo], feed: Mapping[str, np.ndarray]) -> None:
    """Raise ModelSpecError unless `feed` has exactly the model's inputs with matching dtype and shape.

    A symbolic dim may take any size >= 1 but the same symbol must have the same size in every input.
    """
    names = {t.name for t in inputs}
    missing = sorted(names - set(feed))
    unknown = sorted(set(feed) - names)
    if missing or unknown:
        raise ModelSpecError(
            f"model inputs are {sorted(names)}; missing {missing}, unexpected {unknown}"
        )
    bound: dict[str, int] = {}
    for info in inputs:
        array = feed[info.name]
        if not isinstance(array, np.ndarray):
            raise ModelSpecError(f"input {info.name!r}: expected a numpy array, got {type(array).__name__}")
        got = f"got {_fmt_shape(array.shape)} {array.dtype.name}"
        if array.dtype != info.dtype:
            raise ModelSpecError(
                f"input {info.name!r}: expected dtype {info.dtype.name} {_fmt_shape(info.shape)}, {got}"
            )
        if array.ndim != info.rank:
            raise ModelSpecError(f"input {info.name!r}: expected shape {_fmt_shape(info.shape)}, {got}")
        for axis, (want, have) in enumerate(zip(info.shape, array.shape, strict=True)):
            if isinstance(want, int):
                if want != have:
                    raise ModelSpecError(
                        f"input {info.name!r}: dim {axis} must be {want}; expected {_fmt_shape(info.shape)}, {got}"
                    )
            elif have < 1:
                raise ModelSpecError(f"input {info.name!r}: dim {axis} is empty; {got}")
            elif isinstance(want, str) and bound.setdefault(want, have) != have:
                raise ModelSpecError(
                    f"input {info.name!r}: dim {axis} ({want}) is {have} but another input has {want}={bound[want]}"
                )
