"""Write a compressed model into the store as a new version of its parent, with a complete manifest.

The manifest of a variant carries everything the runtime and the gate need:
- files with sha256 (model, external weights if any, golden set) and the I/O spec read from the
  ONNX file itself (so the engine's manifest check holds by construction);
- preprocess and labels (the parent's, or the student's own);
- a golden set cut from held-out drive crops (see `build_golden`) and the accuracy gate
  (`top1_agreement`, max_drop, reference = the baseline version; `measured` = held-out numbers);
- provenance: the parent's, plus `optimize <method>: parent name@version (model sha256 ...)`, the
  method's parameters as JSON, every step taken, and the tool versions.

Adding a version never changes what `store.resolve(name)` returns: if the model had no pin, the
version it resolved to is pinned first (use `edge-llm-ros models` / `store.pin` to deploy another).
"""

from __future__ import annotations

import importlib.metadata as md
import json
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import NDArray

from edge_llm_ros._compat import UTC
from edge_llm_ros.compression.crops import CropSet
from edge_llm_ros.compression.metrics import confidence, pipeline_classes
from edge_llm_ros.inference.engine import EngineOptions, OrtEngine
from edge_llm_ros.models.errors import ModelError
from edge_llm_ros.models.golden import GoldenSet
from edge_llm_ros.models.hashing import sha256_file
from edge_llm_ros.models.manifest import (
    AccuracyGate,
    FileEntry,
    GoldenSpec,
    LabelMap,
    Manifest,
    PreprocessSpec,
    Provenance,
)
from edge_llm_ros.models.store import ModelRef, ModelStore

MODEL_FILE = "model.onnx"
GOLDEN_FILE = "golden.npz"
GOLDEN_COUNT = 32
_LEADING_VERSION = re.compile(r"^(\d+(?:\.\d+)*)")


def tool_versions(*packages: str) -> dict[str, str]:
    """Installed versions of onnx, onnxruntime and `packages` (missing ones say so)."""
    out = {"onnx": onnx.__version__, "onnxruntime": ort.__version__}
    for name in packages:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out


def variant_version(parent_version: str, suffix: str) -> str:
    """`1.0.0-fp32` + `pruned30` -> `1.0.0-pruned30` (the parent's numeric part, then the method)."""
    match = _LEADING_VERSION.match(parent_version)
    return f"{match.group(1) if match else parent_version}-{suffix}"


def variant_method(manifest: Manifest) -> str:
    """The `optimize` method that made this version, or `prepared` for one built by `models prepare`."""
    for step in manifest.provenance.steps:
        if step.startswith("optimize "):
            return step.split(":", 1)[0].removeprefix("optimize ").strip()
    return "prepared"


@dataclass(frozen=True)
class Variant:
    """What a compression step produced and how: becomes the new version's manifest."""

    method: str
    version: str
    description: str
    parameters: Mapping[str, Any]
    steps: Sequence[str]
    tools: Mapping[str, str] = field(default_factory=dict)


def roi_label_map(classes: Sequence[str]) -> LabelMap:
    """Identity label map for a model whose outputs are our classes themselves (a distilled student)."""
    return LabelMap(
        classes=tuple(classes),
        source="roi-classes",
        source_to_class={i: c for i, c in enumerate(classes)},
        source_names={i: c for i, c in enumerate(classes)},
        default_class=None,
    )


def golden_indices(baseline: Manifest, baseline_logits: NDArray[np.float32], count: int) -> list[int]:
    """Held-out crops for the golden set: the baseline's most confident ones, spread over its classes.

    Round-robin over the baseline's pipeline classes, most confident first, so the set is not all
    "other"; clear-cut crops keep the gate stable (a crop the baseline itself hesitates on would flip
    between near-tied classes under any change and tell nothing).
    """
    classes = pipeline_classes(baseline, baseline_logits)
    conf = confidence(baseline_logits)
    queues = {
        int(c): [int(i) for i in np.argsort(-conf, kind="stable") if classes[i] == c] for c in np.unique(classes)
    }
    chosen: list[int] = []
    while len(chosen) < min(count, len(baseline_logits)):
        for queue in queues.values():
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return sorted(chosen)


def build_golden(
    model_path: Path,
    *,
    preprocess: PreprocessSpec,
    output_name: str,
    candidate_labels: LabelMap,
    baseline: Manifest,
    baseline_logits: NDArray[np.float32],
    heldout: CropSet,
    count: int = GOLDEN_COUNT,
) -> GoldenSet:
    """Golden set of a candidate: held-out crops in its own input format, reference = the baseline's top-1.

    The reference is in the candidate's output space: the baseline's raw top-1 when both share a
    label space (e.g. ImageNet), else the baseline's pipeline class (a student over our classes).
    `expected` holds the candidate's own outputs, for reproducibility checks.
    """
    if len(heldout) == 0:
        raise ModelError("no held-out crops to build a golden set from")
    indices = golden_indices(baseline, baseline_logits, count)
    inputs = heldout.preprocess(preprocess, indices)
    engine = OrtEngine(model_path, EngineOptions(intra_op_threads=2, warmup_runs=0))
    outputs = engine.run({preprocess.input_name: inputs}, outputs=[output_name])[output_name]
    ref_logits = baseline_logits[indices]
    width = int(outputs.shape[1])
    same_space = baseline.labels is not None and baseline.labels.source == candidate_labels.source
    if same_space and width == ref_logits.shape[1]:
        reference = ref_logits.argmax(axis=1).astype(np.int64)
    elif candidate_labels.source == "roi-classes":
        reference = pipeline_classes(baseline, ref_logits)
    else:
        raise ModelError(
            f"cannot express the baseline's top-1 ({baseline.labels.source if baseline.labels else '?'}) "
            f"in the candidate's label space ({candidate_labels.source})"
        )
    return GoldenSet(inputs={preprocess.input_name: inputs}, expected={output_name: outputs},
                     reference={"top1": reference})


def _io(model_path: Path) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    engine = OrtEngine(model_path, EngineOptions(warmup_runs=0))
    return tuple(i.to_spec() for i in engine.inputs), tuple(o.to_spec() for o in engine.outputs)


def _files(directory: Path) -> list[FileEntry]:
    entries: list[FileEntry] = []
    for path in sorted(p for p in directory.iterdir() if p.is_file() and p.name != "manifest.json"):
        role = "model" if path.name == MODEL_FILE else "golden" if path.name == GOLDEN_FILE else (
            "weights" if path.name.endswith(".data") else "other")
        entries.append(FileEntry(path.name, sha256_file(path), path.stat().st_size, role))
    return entries


def keep_current_resolution(store: ModelStore, name: str) -> None:
    """Pin what `resolve(name)` returns now, if nothing is pinned, so a new version does not take over."""
    if store.pinned(name) is None and store.versions(name):
        store.pin(name, store.resolve(name).version)


def publish(
    store: ModelStore,
    parent: ModelRef,
    staging: Path,
    variant: Variant,
    *,
    golden: GoldenSet,
    max_drop: float,
    measured: Mapping[str, float],
    reference_version: str,
    preprocess: PreprocessSpec | None = None,
    labels: LabelMap | None = None,
    overwrite: bool = False,
) -> ModelRef:
    """Write golden + manifest into `staging` (which already holds model.onnx) and commit it to the store.

    The staging directory is removed on failure. Returns the committed ref.
    """
    staging = Path(staging)
    try:
        golden.save(staging / GOLDEN_FILE)
        inputs, outputs = _io(staging / MODEL_FILE)
        pm = parent.manifest
        prov = pm.provenance
        parent_files = {f"{parent.model_id}/{f.path}": f.sha256 for f in pm.files if f.role in ("model", "weights")}
        manifest = Manifest(
            name=pm.name,
            version=variant.version,
            kind=pm.kind,
            description=variant.description,
            model_file=MODEL_FILE,
            files=tuple(_files(staging)),
            inputs=inputs,
            outputs=outputs,
            license=pm.license,
            provenance=Provenance(
                source_package=prov.source_package,
                source_version=prov.source_version,
                source_license=prov.source_license,
                source_files={**prov.source_files, **parent_files},
                tools={**prov.tools, **variant.tools},
                steps=(
                    *prov.steps,
                    f"optimize {variant.method}: parent {parent.model_id} "
                    f"(model sha256 {pm.model_entry.sha256})",
                    f"parameters: {json.dumps(dict(variant.parameters), sort_keys=True)}",
                    *variant.steps,
                ),
                created_utc=datetime.now(UTC).replace(microsecond=0).isoformat(),
            ),
            accuracy=AccuracyGate("top1_agreement", max_drop, reference_version, dict(measured)),
            preprocess=preprocess or pm.preprocess,
            labels=labels or pm.labels,
            detector=pm.detector,
            golden=GoldenSpec(
                GOLDEN_FILE,
                golden.count,
                f"held-out drive crops on which {reference_version} is most confident, spread over its "
                f"classes; reference.top1 = {reference_version}'s top-1 in this model's output space, "
                "expected = this version's outputs",
            ),
        )
        manifest.save(staging)
        keep_current_resolution(store, pm.name)
        return store.commit(staging, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

