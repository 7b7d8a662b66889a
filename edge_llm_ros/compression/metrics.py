"""What `check` and the benchmark measure on a model: outputs on crops, pipeline classes, size, latency.

Classes are computed exactly as the pipeline computes them (`inference.classifier.RoiClassifier`):
the manifest's label map rolls the model's per-source-class probabilities up into our classes
(ImageNet ids -> car/truck/.../other; a student that predicts our classes directly has an identity
map). So accuracy and agreement are about what the decision node would receive.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_llm_ros.compression.crops import CropSet
from edge_llm_ros.inference.engine import OrtEngine
from edge_llm_ros.models.errors import ModelError
from edge_llm_ros.models.labels import ClassRollup, softmax
from edge_llm_ros.models.manifest import LabelMap, Manifest, PreprocessSpec
from edge_llm_ros.models.store import ModelRef

Progress = Callable[[int], None]


def classifier_parts(manifest: Manifest) -> tuple[PreprocessSpec, str]:
    """(preprocess spec, logits output name) of a classifier manifest; ModelError for anything else."""
    if manifest.kind != "classifier" or manifest.preprocess is None or manifest.labels is None:
        raise ModelError(
            f"{manifest.model_id} is a {manifest.kind} without preprocess/labels; "
            "crop-based optimisation needs a classifier manifest"
        )
    return manifest.preprocess, manifest.outputs[0].name


def predict(
    engine: OrtEngine,
    spec: PreprocessSpec,
    output: str,
    crops: CropSet,
    batch_size: int = 16,
    progress: Progress | None = None,
) -> NDArray[np.float32]:
    """The model output `output` (logits) for every crop, preprocessed with `spec`."""
    step = engine.max_batch or batch_size
    parts: list[NDArray[np.float32]] = []
    for rows, batch in crops.batches(spec, step):
        parts.append(np.asarray(engine.run({spec.input_name: batch}, outputs=[output])[output], dtype=np.float32))
        if progress is not None:
            progress(len(rows))
    if not parts:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(parts, axis=0)


def predict_manifest(
    engine: OrtEngine, manifest: Manifest, crops: CropSet, batch_size: int = 16, progress: Progress | None = None
) -> NDArray[np.float32]:
    """`predict` with the preprocess spec and logits output of a classifier manifest."""
    spec, output = classifier_parts(manifest)
    return predict(engine, spec, output, crops, batch_size, progress)


def pipeline_classes(labels: Manifest | LabelMap, logits: NDArray[np.float32]) -> NDArray[np.int64]:
    """Our class id per row, exactly as the pipeline's classifier decides it (label map or its manifest)."""
    if len(logits) == 0:
        return np.zeros(0, np.int64)
    label_map = labels.labels if isinstance(labels, Manifest) else labels
    if label_map is None:
        raise ModelError("a model without a label map has no pipeline classes")
    ids, _ = ClassRollup(label_map, int(logits.shape[1])).classify(logits)
    return ids.astype(np.int64)


def same_label_space(a: LabelMap | None, a_width: int, b: LabelMap | None, b_width: int) -> bool:
    """True when two classifiers' raw outputs mean the same classes (same label source and width)."""
    return a is not None and b is not None and a.source == b.source and a_width == b_width


def confidence(logits: NDArray[np.float32]) -> NDArray[np.float32]:
    """Softmax probability of each row's top class."""
    if len(logits) == 0:
        return np.zeros(0, np.float32)
    return np.asarray(softmax(logits).max(axis=1), dtype=np.float32)


def model_size_bytes(ref: ModelRef) -> int:
    """Bytes of the files a session loads (model + external weights), from the manifest."""
    return sum(f.size_bytes for f in ref.manifest.files if f.role in ("model", "weights"))


def ms_per_crop(engine: OrtEngine, batch: NDArray[Any], seconds: float = 1.0, min_runs: int = 5) -> float:
    """Median wall time per crop of `engine.run(batch)` over `seconds` (after 3 warm-up runs)."""
    for _ in range(3):
        engine.run(batch)
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < min_runs:
        start = time.perf_counter()
        engine.run(batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0 / len(batch)


def latency_batch(manifest: Manifest, crops: CropSet, size: int) -> NDArray[Any]:
    """`size` real crops (cycled when there are fewer) preprocessed for this model, for timing."""
    spec, _ = classifier_parts(manifest)
    if len(crops) == 0:
        raise ModelError("no crops to time the model on")
    return crops.preprocess(spec, [i % len(crops) for i in range(size)])
