"""`optimize check`: is a compressed candidate good enough to replace its baseline? The gate, measured.

A candidate passes when all of these hold (max_drop comes from the CANDIDATE's manifest gate):
1. the deployment gate (compression.gate, the same code as hot-swap validation): every file
   matches its manifest sha256 (else the candidate is refused outright and nothing is measured),
   it loads and matches its I/O spec, and its golden set agrees with the reference at
   >= 1 - max_drop;
2. on held-out crops of real drives, agreement with the baseline on the class the pipeline acts on
   (our classes, via each manifest's label map) is >= 1 - max_drop;
3. accuracy against the bags' ground truth drops by at most max_drop (absolute) from the baseline's.

Agreement is measured on pipeline classes rather than the raw 1000-way ImageNet top-1: most drive
crops are small and the baseline's raw top-1 is a near-tie between classes that all mean "other"
(median top-1 probability ~0.13 on the sample drives), so raw top-1 agreement mostly measures which
of two near-equal "other" classes wins. The raw top-1 agreement is still reported when both models
share a label space, and the golden set (the baseline's most confident crops) gates raw top-1.

Size is the bytes a session loads; latency is the median ms per crop at each batch size on real
crops, intra-op threads as given (1 by default: often fastest for small models on a 2-core box).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_llm_ros.compression.crops import CropSet
from edge_llm_ros.compression.gate import GateRefusedError, golden_gate, verify_candidate
from edge_llm_ros.compression.metrics import (
    latency_batch,
    model_size_bytes,
    ms_per_crop,
    pipeline_classes,
    predict_manifest,
    same_label_space,
)
from edge_llm_ros.compression.progress import ProgressFactory, silent
from edge_llm_ros.compression.publish import variant_method
from edge_llm_ros.inference.engine import EngineOptions, OrtEngine
from edge_llm_ros.inference.golden_check import GoldenReport
from edge_llm_ros.models.errors import ModelError
from edge_llm_ros.models.manifest import LabelMap, Manifest
from edge_llm_ros.models.store import ModelRef, ModelStore

DEFAULT_BATCHES = (1, 8)


@dataclass(frozen=True)
class VariantMetrics:
    """One model measured on the held-out crops (agreement is against the evaluator's baseline)."""

    model_id: str
    method: str
    size_bytes: int
    crops: int
    accuracy: float
    class_agreement: float
    top1_agreement: float | None
    ms_per_crop: Mapping[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "model_id": self.model_id,
            "method": self.method,
            "size_bytes": self.size_bytes,
            "crops": self.crops,
            "accuracy": self.accuracy,
            "class_agreement": self.class_agreement,
            "top1_agreement": self.top1_agreement,
            "ms_per_crop": {f"batch{b}": ms for b, ms in sorted(self.ms_per_crop.items())},
        }


@dataclass(frozen=True)
class CheckReport:
    """A candidate against its baseline, with the verdict and every reason it failed."""

    candidate: VariantMetrics
    baseline: VariantMetrics
    max_drop: float
    golden: GoldenReport | None
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """True when no gate failed."""
        return not self.failures

    @property
    def agreement_drop(self) -> float:
        """1 - agreement with the baseline on pipeline classes."""
        return 1.0 - self.candidate.class_agreement

    @property
    def accuracy_drop(self) -> float:
        """Baseline accuracy minus candidate accuracy against ground truth (negative: better)."""
        return self.baseline.accuracy - self.candidate.accuracy

    @property
    def size_ratio(self) -> float:
        """Candidate size / baseline size."""
        return self.candidate.size_bytes / self.baseline.size_bytes if self.baseline.size_bytes else float("nan")

    def speedup(self, batch: int) -> float | None:
        """Baseline ms per crop / candidate ms per crop at `batch` (None if not timed)."""
        cand, base = self.candidate.ms_per_crop.get(batch), self.baseline.ms_per_crop.get(batch)
        if cand is None or base is None or cand <= 0:
            return None
        return base / cand

    def summary(self) -> str:
        """One line verdict."""
        verdict = "PASS" if self.passed else "FAIL"
        line = (
            f"{verdict} {self.candidate.model_id} vs {self.baseline.model_id}: agreement "
            f"{self.candidate.class_agreement:.4f}, accuracy {self.candidate.accuracy:.4f} "
            f"(baseline {self.baseline.accuracy:.4f}), max_drop {self.max_drop:.3f}"
        )
        return line + ("" if self.passed else "; " + "; ".join(self.failures))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "candidate": self.candidate.to_dict(),
            "baseline": self.baseline.to_dict(),
            "max_drop": self.max_drop,
            "agreement_drop": self.agreement_drop,
            "accuracy_drop": self.accuracy_drop,
            "size_ratio": self.size_ratio,
            "speedup": {f"batch{b}": self.speedup(b) for b in sorted(self.candidate.ms_per_crop)},
            "golden": None if self.golden is None else {
                "agreement": self.golden.agreement, "min_agreement": self.golden.min_agreement,
                "count": self.golden.count, "passed": self.golden.passed,
            },
            "passed": self.passed,
            "failures": list(self.failures),
        }


class Evaluator:
    """Held-out crops and the baseline's outputs, computed once; measures and checks any candidate against them."""

    def __init__(
        self,
        store: ModelStore,
        baseline_id: str,
        heldout: CropSet,
        *,
        batches: Sequence[int] = DEFAULT_BATCHES,
        seconds: float = 1.0,
        threads: int = 1,
        progress: ProgressFactory = silent,
    ) -> None:
        """Verify the baseline (sha256) and run it on every held-out crop. Raises GateRefusedError / ModelError."""
        if len(heldout) == 0:
            raise ModelError("no held-out crops to measure on")
        self.store = store
        self.heldout = heldout
        self.batches = tuple(batches)
        self.seconds = seconds
        self.threads = threads
        self.progress = progress
        self.baseline_ref = verify_candidate(store, baseline_id)
        self._baseline_engine = self._engine(self.baseline_ref)
        self.baseline_logits = self.run(self._baseline_engine, self.baseline_ref.manifest)
        self.baseline_classes = pipeline_classes(self.baseline_ref.manifest, self.baseline_logits)
        self._baseline_metrics: VariantMetrics | None = None

    def _engine(self, ref: ModelRef) -> OrtEngine:
        return OrtEngine(ref, EngineOptions(intra_op_threads=self.threads, warmup_runs=0))

    def run(self, engine: OrtEngine, manifest: Manifest) -> np.ndarray:
        """A classifier's logits on every held-out crop (with a progress bar)."""
        with self.progress(f"run {manifest.model_id}", len(self.heldout)) as update:
            return predict_manifest(engine, manifest, self.heldout, progress=update)

    def score(self, labels: LabelMap, logits: np.ndarray) -> dict[str, float]:
        """Accuracy vs ground truth and agreement with the baseline of outputs `logits` read with `labels`.

        `top1_agreement` (raw top-1) is included only when the outputs share the baseline's label space.
        """
        classes = pipeline_classes(labels, logits)
        base = self.baseline_ref.manifest
        out = {
            "heldout_crops": float(len(self.heldout)),
            "heldout_accuracy": float(np.mean(classes == self.heldout.labels)),
            "heldout_class_agreement": float(np.mean(classes == self.baseline_classes)),
        }
        if same_label_space(labels, int(logits.shape[1]), base.labels, int(self.baseline_logits.shape[1])):
            out["heldout_top1_agreement"] = float(np.mean(logits.argmax(axis=1) == self.baseline_logits.argmax(axis=1)))
        return out

    @property
    def baseline(self) -> VariantMetrics:
        """The baseline's own metrics (agreement 1 by definition), timed on first use."""
        if self._baseline_metrics is None:
            self._baseline_metrics = self.measure(self.baseline_ref, self._baseline_engine, self.baseline_logits)
        return self._baseline_metrics

    def measure(
        self, ref: ModelRef, engine: OrtEngine | None = None, logits: np.ndarray | None = None
    ) -> VariantMetrics:
        """Accuracy, agreement with the baseline, size and ms per crop of a verified model.

        `logits` may be passed when they were already computed from the same (sha256-pinned) file.
        """
        engine = engine or self._engine(ref)
        if logits is None:
            logits = self.run(engine, ref.manifest)
        if ref.manifest.labels is None:
            raise ModelError(f"{ref.model_id} has no label map")
        scores = self.score(ref.manifest.labels, logits)
        timings: dict[int, float] = {}
        for batch in self.batches:
            timings[batch] = ms_per_crop(engine, latency_batch(ref.manifest, self.heldout, batch), self.seconds)
        return VariantMetrics(
            model_id=ref.model_id,
            method=variant_method(ref.manifest),
            size_bytes=model_size_bytes(ref),
            crops=len(self.heldout),
            accuracy=scores["heldout_accuracy"],
            class_agreement=scores["heldout_class_agreement"],
            top1_agreement=scores.get("heldout_top1_agreement"),
            ms_per_crop=timings,
        )

    def check(self, candidate_id: str, logits: np.ndarray | None = None) -> CheckReport:
        """Gate and measure a candidate (see the module docstring).

        Raises GateRefusedError when its files do not match its manifest or it cannot be loaded (there is
        nothing trustworthy to measure); otherwise returns the report, passed or not.
        """
        ref = verify_candidate(self.store, candidate_id)
        failures: list[str] = []
        try:
            result = golden_gate(ref, intra_op_threads=self.threads)
            golden, engine = result.golden, result.engine
        except GateRefusedError as exc:
            # A model that fails only its golden check is still measured (the numbers say how bad);
            # one that cannot even be loaded is refused.
            if exc.engine is None or exc.golden is None:
                raise
            failures.append(str(exc))
            golden, engine = exc.golden, exc.engine
        metrics = self.measure(ref, engine, logits)
        max_drop = ref.manifest.accuracy.max_drop
        baseline = self.baseline
        if 1.0 - metrics.class_agreement > max_drop + 1e-9:
            failures.append(
                f"agreement with {baseline.model_id} on held-out crops {metrics.class_agreement:.4f} "
                f"< {1.0 - max_drop:.4f}"
            )
        if baseline.accuracy - metrics.accuracy > max_drop + 1e-9:
            failures.append(
                f"accuracy drop {baseline.accuracy - metrics.accuracy:.4f} > max_drop {max_drop:.4f} "
                f"({metrics.accuracy:.4f} vs {baseline.accuracy:.4f})"
            )
        return CheckReport(candidate=metrics, baseline=baseline, max_drop=max_drop, golden=golden,
                           failures=tuple(failures))

    def check_all(self, name: str) -> tuple[list[CheckReport], dict[str, str]]:
        """Check every version of `name` in the store except the baseline; also returns {model_id: why refused}.

        For the chart of all variants of a model: versions that are not classifiers over these
        crops, or that are refused by the gate (sha256, cannot load), are listed with the reason.
        """
        reports: list[CheckReport] = []
        refused: dict[str, str] = {}
        for version in self.store.versions(name):
            model_id = f"{name}@{version}"
            if model_id == self.baseline_ref.model_id:
                continue
            try:
                reports.append(self.check(model_id))
            except ModelError as exc:  # GateRefusedError included
                refused[model_id] = str(exc)
        return reports, refused
