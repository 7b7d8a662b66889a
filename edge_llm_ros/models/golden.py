"""Golden inputs and expected outputs of a model, stored as a plain .npz (no pickle).

Keys are `input.<model input name>`, `expected.<model output name>` (this model's own outputs on
those inputs, for reproducibility checks) and `reference.<key>` (what the accuracy gate compares
against, e.g. `reference.top1` = the FP32 baseline's ImageNet top-1 per crop).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_llm_ros.models.errors import ManifestError

_PREFIXES = ("input", "expected", "reference")


@dataclass
class GoldenSet:
    """Golden inputs by model input name, expected outputs by output name, and gate references."""

    inputs: dict[str, np.ndarray]
    expected: dict[str, np.ndarray] = field(default_factory=dict)
    reference: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Number of golden items (the batch size of the first input)."""
        first = next(iter(self.inputs.values()))
        return int(first.shape[0])

    def save(self, path: Path) -> Path:
        """Write the .npz (compressed); returns `path`."""
        arrays: dict[str, np.ndarray] = {}
        for prefix, group in zip(_PREFIXES, (self.inputs, self.expected, self.reference), strict=True):
            for key, value in group.items():
                if value.dtype == object:
                    raise ValueError(f"golden array {prefix}.{key} has dtype object; only numeric arrays are stored")
                arrays[f"{prefix}.{key}"] = np.ascontiguousarray(value)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
        Path(path).write_bytes(buffer.getvalue())
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> GoldenSet:
        """Read a golden .npz with allow_pickle=False; raises ManifestError if it is not one."""
        groups: dict[str, dict[str, np.ndarray]] = {p: {} for p in _PREFIXES}
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                for key in data.files:
                    prefix, _, name = key.partition(".")
                    if prefix not in groups or not name:
                        raise ManifestError(f"{path}: unexpected array {key!r} in golden file")
                    groups[prefix][name] = data[key]
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise ManifestError(f"{path}: not a readable golden .npz ({exc})") from exc
        if not groups["input"]:
            raise ManifestError(f"{path}: golden file has no input arrays")
        return cls(inputs=groups["input"], expected=groups["expected"], reference=groups["reference"])

    def batch(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """A slice of the golden inputs, as a feed for an engine."""
        return {k: v[start:stop] for k, v in self.inputs.items()}


def as_feed(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Contiguous copies of golden inputs, ready for onnxruntime."""
    return {k: np.ascontiguousarray(v) for k, v in inputs.items()}
