"""The person detector: an ONNX SSD whose manifest names its outputs and classes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from edge_llm_ros.inference.backend import DEFAULT_BACKEND, InferenceEngine, open_engine
from edge_llm_ros.inference.detector_postprocess import person_boxes
from edge_llm_ros.inference.engine import CPU, EngineOptions
from edge_llm_ros.inference.preprocess import Preprocessor
from edge_llm_ros.models.errors import ModelError
from edge_llm_ros.models.store import ModelStore
from edge_llm_ros.roi.boxes import Box


class PersonDetector:
    """Whole frame in, person boxes (pixels, x1 y1 x2 y2) with scores out."""

    def __init__(self, engine: InferenceEngine, score_threshold: float) -> None:
        manifest = engine.manifest
        if manifest is None or manifest.preprocess is None or manifest.detector is None:
            raise ModelError(f"{engine.model_id}: a detector needs a manifest with preprocess and detector spec")
        self.engine = engine
        self.manifest = manifest
        self.score_threshold = score_threshold
        self.preprocessor = Preprocessor(manifest.preprocess)
        self._batch = self.preprocessor.allocate(1)

    def detect(self, image: NDArray[np.uint8]) -> list[tuple[Box, float]]:
        """Persons in one RGB frame, best first."""
        self.preprocessor.fill(self._batch, 0, image)
        outputs = self.engine.run(self._batch)
        found = person_boxes(outputs, self.manifest, [image.shape[:2]], self.score_threshold)[0]
        return [
            ((float(b[0]), float(b[1]), float(b[2]), float(b[3])), float(s))
            for b, s in zip(found.boxes, found.scores, strict=True)
        ]


def load_person_detector(
    name: str,
    version: str | None = None,
    *,
    store: str | Path | None = None,
    score_threshold: float = 0.5,
    providers: Sequence[str] = (CPU,),
    intra_op_threads: int = 1,
    backend: str = DEFAULT_BACKEND,
) -> PersonDetector:
    """Resolve, verify and warm up the person detector from the model store."""
    options = EngineOptions(providers=tuple(providers), intra_op_threads=intra_op_threads)
    engine = open_engine(name, ModelStore(store) if store else None, version, options, backend=backend)
    return PersonDetector(engine, score_threshold)
