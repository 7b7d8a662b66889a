"""The ROI classifier: an ONNX image classifier whose manifest says how to feed and read it.

Input size, layout, normalisation and the mapping of the model's classes (ImageNet) to ours all
come from the model's manifest; nothing about the model is written here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from edge_llm_ros.inference.backend import DEFAULT_BACKEND, InferenceEngine, open_engine
from edge_llm_ros.inference.engine import EngineOptions
from edge_llm_ros.inference.preprocess import Preprocessor
from edge_llm_ros.models.errors import ModelError
from edge_llm_ros.models.labels import ClassRollup
from edge_llm_ros.models.store import ModelStore


class RoiClassifier:
    """Preallocated batch in, (class, probability) per row out."""

    def __init__(self, engine: InferenceEngine) -> None:
        manifest = engine.manifest
        if manifest is None or manifest.preprocess is None or manifest.labels is None:
            raise ModelError(f"{engine.model_id}: a classifier needs a manifest with preprocess and labels")
        self.engine = engine
        self.preprocessor = Preprocessor(manifest.preprocess)
        width = engine.outputs[0].shape[-1]
        num_source = width if isinstance(width, int) else len(manifest.labels.source_names)
        self.rollup = ClassRollup(manifest.labels, num_source)
        self.classes = manifest.labels.classes
        self._output = engine.outputs[0].name

    def allocate(self, max_batch: int) -> NDArray[np.floating]:
        """A batch buffer in the model's layout, reused for every batch."""
        return self.preprocessor.allocate(max_batch)

    def fill(self, batch: NDArray[np.floating], index: int, crop: NDArray[np.uint8]) -> None:
        """Letterbox and normalise an RGB crop (a view into the frame) into `batch[index]`."""
        self.preprocessor.fill(batch, index, crop)

    def classify(self, batch: NDArray[np.floating]) -> list[tuple[str, float]]:
        """Run the filled rows; returns our class name and its summed probability per row."""
        logits = self.engine.run(batch, outputs=[self._output])[self._output]
        ids, probs = self.rollup.classify(logits)
        return [(self.classes[int(i)], float(p)) for i, p in zip(ids, probs, strict=True)]


def load_classifier(
    name: str,
    version: str | None = None,
    *,
    store: str | Path | None = None,
    providers: Sequence[str] = ("CPUExecutionProvider",),
    intra_op_threads: int = 1,
    inter_op_threads: int = 1,
    backend: str = DEFAULT_BACKEND,
) -> RoiClassifier:
    """Resolve, verify (sha256, I/O spec) and warm up a classifier from the model store."""
    options = EngineOptions(
        providers=tuple(providers), intra_op_threads=intra_op_threads, inter_op_threads=inter_op_threads
    )
    engine = open_engine(name, ModelStore(store) if store else None, version, options, backend=backend)
    return RoiClassifier(engine)
