"""onnxruntime engine: loads a model through its manifest (sha256 first), runs batches, warms up.

    ref = ModelStore().resolve("roi_classifier")            # pinned or latest version
    engine = OrtEngine(ref, EngineOptions(intra_op_threads=1))
    logits = engine.run(batch)["logits"]                    # batch in the model's own layout

Input/output names, shapes and dtypes come from the model file (and must agree with the manifest).
Execution providers are tried in the order given; one that is not built into this onnxruntime, or
that fails to start, is skipped with a log line and the CPU provider is always the last resort.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edge_llm_ros.inference.io_spec import TensorInfo, check_feed, compare_with_manifest, read_io
from edge_llm_ros.models.errors import ModelError, ModelSpecError
from edge_llm_ros.models.hashing import verify_sha256, verify_sha256_bytes
from edge_llm_ros.models.manifest import Manifest
from edge_llm_ros.models.store import ModelRef, ModelStore

_log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
_OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


@dataclass(frozen=True)
class EngineOptions:
    """How to run a model: execution providers in order of preference, threads, optimisation, warm-up.

    `allow_spinning=False` stops idle intra-op threads from busy-waiting: slightly slower per run,
    but it leaves the CPU to the other nodes on a small shared box.
    """

    providers: tuple[str, ...] = (CPU,)
    provider_options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    graph_optimization: str = "all"
    allow_spinning: bool = True
    warmup_runs: int = 1
    warmup_batch: int = 1

    def __post_init__(self) -> None:
        """Reject values onnxruntime would misread (0 threads means 'all cores' there)."""
        if self.intra_op_threads < 1 or self.inter_op_threads < 1:
            raise ValueError("intra_op_threads and inter_op_threads must be >= 1")
        if self.graph_optimization not in _OPT_LEVELS:
            raise ValueError(f"graph_optimization must be one of {sorted(_OPT_LEVELS)}")
        if self.warmup_runs < 0 or self.warmup_batch < 1:
            raise ValueError("warmup_runs must be >= 0 and warmup_batch >= 1")
        if not self.providers:
            raise ValueError("providers must name at least one execution provider")


def select_providers(requested: Sequence[str]) -> list[str]:
    """The requested providers that this onnxruntime has, in order, with the CPU provider last."""
    available = set(ort.get_available_providers())
    chosen: list[str] = []
    for name in requested:
        if name in available:
            if name not in chosen:
                chosen.append(name)
        else:
            _log.warning("execution provider %s is not available in this onnxruntime; skipping it", name)
    if CPU not in chosen:
        chosen.append(CPU)
    return chosen


class OrtEngine:
    """One onnxruntime session over a verified model, with checked batches in and named outputs out."""

    def __init__(
        self,
        model: ModelRef | Path | str,
        options: EngineOptions | None = None,
        *,
        expected_sha256: str | None = None,
    ) -> None:
        """Load `model` (a store ref, or a bare .onnx path with an optional pinned sha256).

        With a ModelRef every model/weights file is hashed and compared with the manifest before
        anything is parsed, and the session's I/O must agree with the manifest's spec.
        Raises Sha256MismatchError, ModelSpecError or ModelError.
        """
        self.options = options or EngineOptions()
        self.ref: ModelRef | None = model if isinstance(model, ModelRef) else None
        self.manifest: Manifest | None = self.ref.manifest if self.ref else None
        source: bytes | str
        if self.ref is not None:
            self.model_path = self.ref.model_path
            source = self._load_verified(self.ref)
            self.model_id = self.ref.model_id
        else:
            self.model_path = Path(model)  # type: ignore[arg-type]
            if not self.model_path.is_file():
                raise ModelError(f"model file {self.model_path} does not exist")
            data = self.model_path.read_bytes()
            if expected_sha256 is not None:
                verify_sha256_bytes(data, self.model_path, expected_sha256)
            source = data
            self.model_id = self.model_path.name
        self._session = self._create_session(source)
        self.providers: tuple[str, ...] = tuple(self._session.get_providers())
        self.inputs, self.outputs = read_io(self._session)
        if self.manifest is not None:
            problems = compare_with_manifest(self.inputs, self.outputs, self.manifest)
            if problems:
                raise ModelSpecError(f"{self.model_id}: model does not match its manifest: " + "; ".join(problems))
        self._output_names = [o.name for o in self.outputs]
        _log.info(
            "loaded %s with providers %s (intra-op %d, inter-op %d threads); inputs %s; outputs %s",
            self.model_id, list(self.providers), self.options.intra_op_threads, self.options.inter_op_threads,
            [i.describe() for i in self.inputs], [o.describe() for o in self.outputs],
        )
        if self.options.warmup_runs:
            self.warm_up(self.options.warmup_batch, self.options.warmup_runs)

    @classmethod
    def from_store(
        cls,
        name: str,
        store: ModelStore | None = None,
        version: str | None = None,
        options: EngineOptions | None = None,
    ) -> OrtEngine:
        """Resolve `name` (or `name@version`) in `store` (default store if None) and load it."""
        return cls((store or ModelStore()).resolve(name, version), options)

    @staticmethod
    def _load_verified(ref: ModelRef) -> bytes | str:
        """Hash every file the session will read; return verified bytes, or the path when weights are external."""
        weights = [e for e in ref.manifest.files if e.role == "weights"]
        for entry in weights:
            path = ref.directory / entry.path
            if not path.is_file():
                raise ModelError(f"{ref.model_id}: weights file {entry.path} is missing ({path})")
            verify_sha256(path, entry.sha256)
        entry = ref.manifest.model_entry
        path = ref.directory / entry.path
        if not path.is_file():
            raise ModelError(f"{ref.model_id}: model file {entry.path} is missing ({path})")
        if weights:
            # External data is resolved relative to the model path, so the session must load by path.
            verify_sha256(path, entry.sha256)
            return str(path)
        data = path.read_bytes()
        verify_sha256_bytes(data, path, entry.sha256)
        return data

    def _session_options(self) -> ort.SessionOptions:
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.options.intra_op_threads
        so.inter_op_num_threads = self.options.inter_op_threads
        so.execution_mode = (
            ort.ExecutionMode.ORT_PARALLEL if self.options.inter_op_threads > 1 else ort.ExecutionMode.ORT_SEQUENTIAL
        )
        so.graph_optimization_level = _OPT_LEVELS[self.options.graph_optimization]
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.options.allow_spinning else "0")
        so.log_severity_level = 3
        return so

    def _create_session(self, source: bytes | str) -> ort.InferenceSession:
        providers = select_providers(self.options.providers)
        opts = [dict(self.options.provider_options.get(p, {})) for p in providers]
        try:
            return ort.InferenceSession(source, self._session_options(), providers=providers, provider_options=opts)
        except Exception as exc:
            if providers == [CPU]:
                raise ModelError(f"{self.model_id}: onnxruntime cannot load the model: {exc}") from exc
            _log.warning(
                "%s: providers %s failed to start (%s); falling back to %s", self.model_id, providers, exc, CPU
            )
            try:
                return ort.InferenceSession(source, self._session_options(), providers=[CPU])
            except Exception as exc2:
                raise ModelError(f"{self.model_id}: onnxruntime cannot load the model: {exc2}") from exc2

    @property
    def input_names(self) -> tuple[str, ...]:
        """Model input names, in model order."""
        return tuple(i.name for i in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        """Model output names, in model order."""
        return tuple(self._output_names)

    @property
    def input(self) -> TensorInfo:
        """The only input of a single-input model."""
        if len(self.inputs) != 1:
            raise ModelSpecError(f"{self.model_id} has {len(self.inputs)} inputs; pass a dict to run()")
        return self.inputs[0]

    @property
    def max_batch(self) -> int | None:
        """Fixed batch size of the first input's dim 0, or None when the batch dim is dynamic."""
        first = self.inputs[0].shape[0] if self.inputs[0].rank else None
        return first if isinstance(first, int) else None

    def run(
        self, batch: np.ndarray | Mapping[str, np.ndarray], outputs: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Run one batch in the model's own layout; returns {output name: array}.

        A bare array feeds the only input. Wrong names, dtype or shape raise ModelSpecError before
        onnxruntime sees the batch (no silent casts: a float64 batch for a float32 model is an error).
        """
        feed = {self.input.name: batch} if isinstance(batch, np.ndarray) else dict(batch)
        check_feed(self.inputs, feed)
        names = list(outputs) if outputs is not None else self._output_names
        unknown = [n for n in names if n not in self._output_names]
        if unknown:
            raise ModelSpecError(f"{self.model_id}: no outputs named {unknown}; outputs are {self._output_names}")
        results = self._session.run(names, feed)
        return dict(zip(names, results, strict=True))

    def dummy_feed(self, batch_size: int = 1) -> dict[str, np.ndarray]:
        """Zero inputs of the model's dtypes: dim 0 = `batch_size`, other dynamic dims from the manifest's size or 1."""
        pre = self.manifest.preprocess if self.manifest else None
        feed: dict[str, np.ndarray] = {}
        for info in self.inputs:
            shape: list[int] = []
            for axis, dim in enumerate(info.shape):
                if isinstance(dim, int):
                    shape.append(dim)
                elif axis == 0:
                    shape.append(batch_size)
                elif pre is not None and pre.input_name == info.name:
                    spatial = (2, 3) if pre.layout == "NCHW" else (1, 2)
                    sizes = {spatial[0]: pre.height, spatial[1]: pre.width}
                    shape.append(sizes.get(axis, pre.channels))
                else:
                    shape.append(1)
            feed[info.name] = np.zeros(shape, dtype=info.dtype)
        return feed

    def warm_up(self, batch_size: int = 1, runs: int = 1) -> float:
        """Run `runs` dummy batches so first-call allocations happen now; returns the last run's ms."""
        feed = self.dummy_feed(batch_size)
        elapsed_ms = 0.0
        for _ in range(max(1, runs)):
            start = time.perf_counter()
            self._session.run(self._output_names, feed)
            elapsed_ms = (time.perf_counter() - start) * 1000.0
        return elapsed_ms

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary (model id, providers, threads, I/O) for diagnostics."""
        return {
            "model_id": self.model_id,
            "providers": list(self.providers),
            "intra_op_threads": self.options.intra_op_threads,
            "inter_op_threads": self.options.inter_op_threads,
            "inputs": [i.describe() for i in self.inputs],
            "outputs": [o.describe() for o in self.outputs],
        }
