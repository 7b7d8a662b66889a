"""Inference backends: what a model engine offers every model kind, and the registry that opens one.

A backend is one module with one engine class that satisfies `InferenceEngine` and opens models
from the store with `from_store(name, store, version, options)`; adding one (TFLite, TensorRT,
OpenVINO) is that module and a line in BACKENDS. The classifier, the detector and the golden
checks use engines only through this protocol, and every model kind takes its execution
providers from its node's parameters (EngineOptions.providers).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # a node that only names a backend (its parameter choices) loads no runtime
    import numpy as np

    from edge_llm_ros.inference.engine import EngineOptions
    from edge_llm_ros.inference.io_spec import TensorInfo
    from edge_llm_ros.models.manifest import Manifest
    from edge_llm_ros.models.store import ModelRef, ModelStore

#: Backend name -> "module:class" of its engine.
BACKENDS: dict[str, str] = {
    "onnxruntime": "edge_llm_ros.inference.engine:OrtEngine",
}
DEFAULT_BACKEND = "onnxruntime"


class InferenceEngine(Protocol):
    """One loaded, verified model: checked batches in, named outputs out."""

    model_id: str
    manifest: Manifest | None
    ref: ModelRef | None
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    #: What the model actually runs on, in order (a backend may fall back from what was asked).
    providers: tuple[str, ...]

    @property
    def input_names(self) -> tuple[str, ...]:
        """Names of the model's inputs."""
        ...

    @property
    def input(self) -> TensorInfo:
        """The only input of a single-input model."""
        ...

    @property
    def max_batch(self) -> int | None:
        """Largest batch the model takes (None: any)."""
        ...

    def run(
        self, batch: np.ndarray | Mapping[str, np.ndarray], outputs: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Run one batch; returns {output name: array}."""
        ...

    def describe(self) -> dict[str, Any]:
        """What is loaded, for logs and status."""
        ...


def open_engine(
    name: str,
    store: ModelStore | None = None,
    version: str | None = None,
    options: EngineOptions | None = None,
    *,
    backend: str = DEFAULT_BACKEND,
) -> InferenceEngine:
    """Resolve `name` (or `name@version`) in `store`, verify it and load it on `backend`."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown inference backend {backend!r}; known: {', '.join(BACKENDS)}")
    module_name, attr = BACKENDS[backend].split(":")
    engine_cls = getattr(importlib.import_module(module_name), attr)
    engine: InferenceEngine = engine_cls.from_store(name, store, version, options)
    return engine
