"""The accuracy gate: run a model on golden inputs and compare with the golden reference.

Classifiers: top-1 agreement of the model's ImageNet argmax with `reference.top1` (the FP32
baseline's top-1). Detectors: person-box agreement, min(recall, precision) of the model's person
boxes against `reference.person_boxes` at IoU >= 0.5. A model passes when agreement >=
1 - accuracy.max_drop from the manifest. The hot-swap validation and `optimize check` reuse this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from edge_llm_ros.inference.backend import InferenceEngine
from edge_llm_ros.inference.detector_postprocess import person_boxes
from edge_llm_ros.models.errors import ModelError, ModelSpecError
from edge_llm_ros.models.golden import GoldenSet
from edge_llm_ros.models.manifest import AccuracyGate, Manifest
from edge_llm_ros.roi.boxes import iou_matrix

MATCH_IOU = 0.5


@dataclass(frozen=True)
class GoldenReport:
    """Outcome of one golden check."""

    model_id: str
    metric: str
    agreement: float
    min_agreement: float
    count: int
    max_abs_diff: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when the agreement reaches the manifest's threshold."""
        return self.agreement >= self.min_agreement - 1e-9

    def summary(self) -> str:
        """One line for logs and CLI output."""
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{verdict} {self.model_id}: {self.metric} {self.agreement:.4f} on {self.count} golden inputs "
            f"(threshold {self.min_agreement:.4f})"
        )


def run_batched(
    engine: InferenceEngine, inputs: Mapping[str, np.ndarray], batch_size: int = 8
) -> dict[str, np.ndarray]:
    """Run all golden inputs through `engine` in batches; outputs concatenated along dim 0."""
    total = int(next(iter(inputs.values())).shape[0])
    step = engine.max_batch or batch_size
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, total, step):
        feed = {k: np.ascontiguousarray(v[start : start + step]) for k, v in inputs.items()}
        for name, value in engine.run(feed).items():
            parts.setdefault(name, []).append(value)
    return {k: np.concatenate(v, axis=0) for k, v in parts.items()}


def top1_agreement(logits: np.ndarray, reference_top1: np.ndarray) -> float:
    """Fraction of rows whose argmax equals the reference class id."""
    if len(reference_top1) == 0:
        return 1.0
    return float(np.mean(logits.argmax(axis=1) == reference_top1))


def person_box_agreement(
    outputs: Mapping[str, np.ndarray], manifest: Manifest, golden: GoldenSet, iou: float = MATCH_IOU
) -> float:
    """min(recall, precision) of person boxes vs the reference boxes (normalised x1y1x2y2), greedy IoU matching."""
    count = int(outputs[manifest.detector.count_output].shape[0]) if manifest.detector else 0
    found = person_boxes(outputs, manifest, [(1, 1)] * count)
    ref_boxes = golden.reference.get("person_boxes", np.zeros((0, 4), np.float32))
    ref_image = golden.reference.get("person_image", np.zeros((0,), np.int64))
    matched = 0
    predicted = sum(len(d) for d in found)
    for i, det in enumerate(found):
        ref = ref_boxes[ref_image == i]
        ious = iou_matrix(ref, det.boxes)
        used: set[int] = set()
        for r in range(len(ref)):
            for c in np.argsort(-ious[r]):
                if int(c) not in used and ious[r, c] >= iou:
                    used.add(int(c))
                    matched += 1
                    break
    if len(ref_boxes) == 0 and predicted == 0:
        return 1.0
    recall = matched / len(ref_boxes) if len(ref_boxes) else 1.0
    precision = matched / predicted if predicted else 0.0
    return min(recall, precision)


def check_golden(
    engine: InferenceEngine,
    golden: GoldenSet,
    gate: AccuracyGate,
    semantics: Manifest,
    batch_size: int = 8,
) -> GoldenReport:
    """Run `engine` on `golden` and score it with `gate`.

    `semantics` is the manifest that says what the outputs mean (output names, label map, detector
    spec): the candidate's own, or the baseline's when checking a replacement against a baseline.
    """
    missing = [n for n in golden.inputs if n not in engine.input_names]
    if missing:
        raise ModelSpecError(f"{engine.model_id}: golden inputs {missing} are not inputs of the model")
    outputs = run_batched(engine, golden.inputs, batch_size)
    diffs = {
        name: float(np.max(np.abs(outputs[name].astype(np.float64) - expected.astype(np.float64))))
        for name, expected in golden.expected.items()
        if name in outputs and outputs[name].shape == expected.shape and expected.size
    }
    if gate.metric == "top1_agreement":
        if "top1" not in golden.reference:
            raise ModelError("golden file has no reference.top1 for a top1_agreement gate")
        logits = outputs[semantics.outputs[0].name]
        agreement = top1_agreement(logits, golden.reference["top1"])
    elif gate.metric == "person_box_agreement":
        agreement = person_box_agreement(outputs, semantics, golden)
    else:  # the manifest parser only admits known metrics
        raise ModelError(f"unknown accuracy metric {gate.metric!r}")
    return GoldenReport(
        model_id=engine.model_id,
        metric=gate.metric,
        agreement=agreement,
        min_agreement=gate.min_agreement,
        count=golden.count,
        max_abs_diff=diffs,
    )


def check_engine(engine: InferenceEngine) -> GoldenReport:
    """Check a store-loaded engine against its own manifest's golden set and gate."""
    if engine.ref is None or engine.manifest is None:
        raise ModelError(f"{engine.model_id} was not loaded from a store; it has no golden set")
    golden = engine.ref.load_golden()
    if golden is None:
        raise ModelError(f"{engine.model_id}: manifest lists no golden file")
    return check_golden(engine, golden, engine.manifest.accuracy, engine.manifest)
