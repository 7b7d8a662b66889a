"""What every `optimize` step shares: crops split into train / held-out, the parent as baseline, and publishing.

    session = Session.open(store, "roi_classifier@1.0.0-fp32", DataOptions((Path("drive.bag"),)))
    staging = session.staging()                     # write staging / "model.onnx" here
    report = session.finish(staging, Variant(...))  # golden set, manifest, commit, then the check

The parent is verified (sha256) and run once on the held-out crops; those outputs are the
reference of the new version's golden set and of the check that ends every step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from edge_llm_ros.compression.check import DEFAULT_BATCHES, CheckReport, Evaluator
from edge_llm_ros.compression.crops import CropSet, CropSpec, find_bags, load_crops
from edge_llm_ros.compression.metrics import classifier_parts, predict
from edge_llm_ros.compression.progress import ProgressFactory, silent
from edge_llm_ros.compression.publish import MODEL_FILE, Variant, build_golden, publish
from edge_llm_ros.inference.engine import EngineOptions, OrtEngine
from edge_llm_ros.models.errors import ModelError
from edge_llm_ros.models.manifest import LabelMap, PreprocessSpec
from edge_llm_ros.models.store import ModelRef, ModelStore


@dataclass(frozen=True)
class DataOptions:
    """Where crops come from and how they are split (whole objects stay on one side)."""

    paths: tuple[Path, ...]
    heldout_fraction: float = 0.3
    split_seed: int = 0
    split_by: str = "track"
    crop: CropSpec = field(default_factory=CropSpec)
    max_train: int | None = None
    max_heldout: int | None = None

    def load(self, progress: ProgressFactory = silent) -> tuple[CropSet, CropSet]:
        """(train, held-out) crops of every bag in `paths`."""
        bags = [b for p in self.paths for b in find_bags(p)]
        with progress("reading bags", 0) as update:
            crops = load_crops(bags, self.crop, progress=update)
        train, heldout = crops.split(self.heldout_fraction, self.split_seed, self.split_by)
        return train.sample(self.max_train, self.split_seed), heldout.sample(self.max_heldout, self.split_seed)


@dataclass(frozen=True)
class MeasureOptions:
    """How candidates are timed: batch sizes, seconds per timing, intra-op threads."""

    batches: tuple[int, ...] = DEFAULT_BATCHES
    seconds: float = 1.0
    threads: int = 1


class Session:
    """One parent model, its crops and its evaluator, for one or more optimisation steps."""

    def __init__(
        self,
        store: ModelStore,
        parent_id: str,
        train: CropSet,
        heldout: CropSet,
        measure: MeasureOptions | None = None,
        progress: ProgressFactory = silent,
    ) -> None:
        """Verify the parent and run it on the held-out crops (the baseline of every check)."""
        measure = measure or MeasureOptions()
        self.store = store
        self.train = train
        self.heldout = heldout
        self.progress = progress
        self.evaluator = Evaluator(
            store, parent_id, heldout, batches=measure.batches, seconds=measure.seconds, threads=measure.threads,
            progress=progress,
        )
        classifier_parts(self.parent.manifest)

    @classmethod
    def open(
        cls,
        store: ModelStore,
        parent_id: str,
        data: DataOptions,
        measure: MeasureOptions | None = None,
        progress: ProgressFactory = silent,
    ) -> Session:
        """Load and split the crops of `data`, then set up the parent as baseline."""
        train, heldout = data.load(progress)
        return cls(store, parent_id, train, heldout, measure, progress)

    @property
    def parent(self) -> ModelRef:
        """The verified parent (= baseline) model."""
        return self.evaluator.baseline_ref

    def parent_classifier(self) -> tuple[PreprocessSpec, LabelMap]:
        """The parent's preprocessing and label map (the constructor checked it is a classifier)."""
        spec, _ = classifier_parts(self.parent.manifest)
        labels = self.parent.manifest.labels
        assert labels is not None  # classifier_parts checked it
        return spec, labels

    def training_sample(self, count: int | None, seed: int, purpose: str) -> CropSet:
        """`count` training crops drawn with `seed`; ModelError when fewer than 2 (nothing to fit)."""
        crops = self.train.sample(count, seed)
        if len(crops) < 2:
            raise ModelError(f"{purpose} needs at least 2 training crops")
        return crops

    def staging(self) -> Path:
        """A fresh staging directory in the store for the new version's files."""
        return self.store.staging_dir()

    def teacher_logits(self, crops: CropSet) -> NDArray[np.float32]:
        """The parent's logits on `crops` (e.g. the training crops, as distillation targets)."""
        spec, output = classifier_parts(self.parent.manifest)
        engine = OrtEngine(self.parent, EngineOptions(intra_op_threads=2, warmup_runs=0))
        with self.progress(f"teacher {self.parent.model_id}", len(crops)) as update:
            return predict(engine, spec, output, crops, progress=update)

    def finish(
        self,
        staging: Path,
        variant: Variant,
        *,
        preprocess: PreprocessSpec | None = None,
        labels: LabelMap | None = None,
        max_drop: float | None = None,
        overwrite: bool = False,
    ) -> CheckReport:
        """Golden set + manifest for `staging / model.onnx`, commit it, then check it against the parent."""
        parent = self.parent.manifest
        preprocess = preprocess or parent.preprocess
        labels = labels or parent.labels
        if preprocess is None or labels is None:
            raise ModelError(f"{parent.model_id}: a classifier variant needs preprocess and labels")
        model_path = Path(staging) / MODEL_FILE
        engine = OrtEngine(model_path, EngineOptions(intra_op_threads=2, warmup_runs=0))
        output = engine.output_names[0]
        with self.progress(f"run {variant.version}", len(self.heldout)) as update:
            logits = predict(engine, preprocess, output, self.heldout, progress=update)
        measured = self.evaluator.score(labels, logits)
        golden = build_golden(
            model_path, preprocess=preprocess, output_name=output, candidate_labels=labels, baseline=parent,
            baseline_logits=self.evaluator.baseline_logits, heldout=self.heldout,
        )
        ref = publish(
            self.store, self.parent, staging, variant, golden=golden,
            max_drop=parent.accuracy.max_drop if max_drop is None else max_drop,
            measured=measured, reference_version=parent.version, preprocess=preprocess, labels=labels,
            overwrite=overwrite,
        )
        return self.evaluator.check(ref.model_id, logits=logits)


def paths(values: Sequence[str | Path]) -> tuple[Path, ...]:
    """CLI strings -> paths."""
    return tuple(Path(v) for v in values)
