"""Train the conveyor defect classifier on synthetic conveyor runs, export it to ONNX, into the store.

Data: frames of the conveyor generator behind `bag synth --scene industrial` (sim.industrial's
IndustrialScene renders exactly the frames and ground truth such a bag holds), for fixed seeds.
Each frame goes through the pipeline's own part segmentation (industrial.segmentation); every
fully visible part that matches a ground-truth part (IoU >= 0.5) gives one crop, cut like the
pipeline cuts it (industrial.proposals.crop_box, with a jittered margin) and letterboxed by the
same Preprocessor, labelled with the ground truth's defect ("none" -> "ok").

Model: a small CNN defined here (five conv stages, ~180 k parameters), trained from scratch with
dihedral flips and brightness jitter (every defect class is invariant to both). It is exported with
torch's dynamo exporter (dynamic batch, example batch 2) to one ONNX file; ONNX is the only
artefact: no torch checkpoint is written. The manifest records the preprocessing, our class names,
a golden set, the seeds, epochs and the accuracy on a held-out seed's run that training never saw.
torch is needed here only; the pipeline runs the ONNX with onnxruntime.
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from edge_llm_ros._compat import UTC
from edge_llm_ros.app.prepare.defect_training import (
    DEFAULT_PLAN,
    IMAGE_SIZE,
    INPUT_NAME,
    MEAN,
    NAME,
    OPSET,
    OUTPUT_NAME,
    STD,
    CropSet,
    TrainingPlan,
    evaluate,
    export_onnx,
    to_model_input,
    train,
)
from edge_llm_ros.industrial.classes import DEFECT_CLASSES, class_of_defect
from edge_llm_ros.industrial.proposals import DEFAULT_MARGIN, crop_box
from edge_llm_ros.industrial.segmentation import PartSegmenter, SegmenterConfig
from edge_llm_ros.inference.engine import EngineOptions, OrtEngine
from edge_llm_ros.inference.golden_check import check_engine, run_batched
from edge_llm_ros.inference.preprocess import Preprocessor
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
    TensorSpec,
)
from edge_llm_ros.models.store import ModelRef, ModelStore
from edge_llm_ros.roi.boxes import iou

_log = logging.getLogger(__name__)
Log = Callable[[str], None]

VERSION = "1.0.0"
# Letterbox borders in the belt's own gray, so padding looks like more belt, not like an edge.
PAD_VALUE = 52
# The station's calibration for the sample conveyor (sim.industrial: belt rows 70..410).
BELT_ROI = (0, 70, 640, 410)
MATCH_IOU = 0.5
GOLDEN_PER_CLASS = 2
MAX_TOP1_DROP = 0.03
LICENSE = "Apache-2.0"


def preprocess_spec() -> PreprocessSpec:
    """How the pipeline feeds part crops to the model: letterboxed to 96x96, NCHW float32, (x-128)/64."""
    return PreprocessSpec(
        input_name=INPUT_NAME,
        layout="NCHW",
        height=IMAGE_SIZE,
        width=IMAGE_SIZE,
        mean=MEAN,
        std=STD,
        color_order="RGB",
        dtype="float32",
        resize="letterbox",
        pad_value=PAD_VALUE,
    )


def label_map() -> LabelMap:
    """Model output i is DEFECT_CLASSES[i]: the identity map onto our class names."""
    return LabelMap(
        classes=DEFECT_CLASSES,
        source=NAME,
        source_to_class=dict(enumerate(DEFECT_CLASSES)),
        source_names=dict(enumerate(DEFECT_CLASSES)),
        default_class=None,
    )


def _frames(seed: int, duration_s: float, stride: int) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
    """(rgb, ground truth) of every `stride`-th frame of a conveyor run, as `bag synth` would write it."""
    from edge_llm_ros.msgs import get_codec
    from edge_llm_ros.sim.industrial import FRAME_PERIOD_NS, IndustrialConfig, IndustrialScene

    scene = IndustrialScene(IndustrialConfig(duration_s=duration_s, seed=seed), get_codec())
    for frame in range(0, scene.frame_count, stride):
        yield scene.render(frame, scene.config.start_ns + frame * FRAME_PERIOD_NS)


def collect_crops(
    seeds: tuple[int, ...], duration_s: float, stride: int, *, margin_jitter: float = 0.0, data_seed: int = 0
) -> CropSet:
    """Segment the runs' frames like the pipeline and cut one labelled crop per matched, whole part."""
    segmenter = PartSegmenter(SegmenterConfig(belt_roi=BELT_ROI))
    letterbox = Preprocessor(
        PreprocessSpec(INPUT_NAME, "NHWC", IMAGE_SIZE, IMAGE_SIZE, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0),
                       dtype="uint8", resize="letterbox", pad_value=PAD_VALUE)
    )
    rng = np.random.default_rng(data_seed)
    images: list[np.ndarray] = []
    labels: list[int] = []
    parts: list[tuple[int, int]] = []
    buffer = letterbox.allocate(1)
    for seed in seeds:
        for rgb, truth in _frames(seed, duration_s, stride):
            height, width = rgb.shape[:2]
            whole = [p for p in truth["parts"] if p["fully_visible"]]
            for blob in segmenter.segment(rgb):
                if not blob.fully_visible:
                    continue
                match = max(whole, key=lambda p: iou(blob.bbox, tuple(p["bbox_xyxy"])), default=None)
                if match is None or iou(blob.bbox, tuple(match["bbox_xyxy"])) < MATCH_IOU:
                    continue
                if margin_jitter > 0:
                    # Independent margins per side: the pipeline's box is off by a pixel or two.
                    sides = DEFAULT_MARGIN + rng.uniform(-margin_jitter, margin_jitter, 4)
                    x0, y0, x1, y1 = blob.bbox
                    w, h = x1 - x0, y1 - y0
                    grown = (x0 - sides[0] * w, y0 - sides[1] * h, x1 + sides[2] * w, y1 + sides[3] * h)
                    box = crop_box(grown, 0.0, width, height)
                else:
                    box = crop_box(blob.bbox, DEFAULT_MARGIN, width, height)
                bx0, by0, bx1, by1 = (round(v) for v in box)
                letterbox.fill(buffer, 0, rgb[max(0, by0) : by1, max(0, bx0) : bx1])
                images.append(buffer[0].copy())
                labels.append(DEFECT_CLASSES.index(class_of_defect(match["defect"])))
                parts.append((seed, int(match["part_id"])))
    stacked = np.stack(images) if images else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    return CropSet(stacked, np.asarray(labels, dtype=np.int64), parts)


def _golden(held: CropSet, logits: np.ndarray) -> np.ndarray:
    """Indices of GOLDEN_PER_CLASS held-out crops per class, the most confidently right ones."""
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    chosen: list[int] = []
    for i in range(len(DEFECT_CLASSES)):
        right = np.flatnonzero((held.labels == i) & (logits.argmax(axis=1) == i))
        order = right[np.argsort(-probs[right, i], kind="stable")]
        chosen.extend(int(j) for j in order[:GOLDEN_PER_CLASS])
    return np.asarray(sorted(chosen), dtype=np.int64)


def _version(package: str) -> str:
    try:
        return md.version(package)
    except md.PackageNotFoundError:
        return "not installed"


def prepare_defect_classifier(
    store: ModelStore,
    *,
    force: bool = False,
    log: Log = _log.info,
    plan: TrainingPlan = DEFAULT_PLAN,
    version: str = VERSION,
) -> list[ModelRef]:
    """Train, export and commit `defect_classifier@version`, then pin it.

    A version already in the store that verifies is kept unless `force`. Raises ImportError
    without torch (or onnxscript, which its exporter needs), ModelError when the exported model
    fails its golden gate.
    """
    if not force and version in store.versions(NAME):
        try:
            ref = store.verify(NAME, version)
            log(f"{NAME}: {version} already in {store.root}, verified")
            if store.pinned(NAME) is None:
                store.pin(NAME, version)
            return [ref]
        except ModelError as exc:
            log(f"{NAME}: rebuilding ({exc})")
    import torch

    started = time.perf_counter()
    log(f"{NAME}: rendering conveyor runs ({len(plan.train_seeds)} seeds) and segmenting parts")
    crops = collect_crops(plan.train_seeds, plan.train_duration_s, plan.frame_stride,
                          margin_jitter=plan.margin_jitter, data_seed=plan.data_seed)
    held = collect_crops((plan.heldout_seed,), plan.heldout_duration_s, 1)
    if len(crops) == 0 or len(held) == 0:
        raise ModelError(f"{NAME}: the conveyor runs gave no part crops to train on")
    data_s = time.perf_counter() - started
    log(f"{NAME}: {len(crops)} training crops {crops.class_counts()}, {len(held)} held-out crops ({data_s:.1f} s)")
    net = train(crops, plan, log)
    train_s = time.perf_counter() - started - data_s
    tools = {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__,
             "onnxscript": _version("onnxscript"), "opencv-python-headless": _version("opencv-python-headless")}
    staging = store.staging_dir()
    try:
        held_input = to_model_input(held.images)
        diff = export_onnx(net, held_input[:2], staging / "model.onnx")
        engine = OrtEngine(staging / "model.onnx", EngineOptions(intra_op_threads=1, warmup_runs=0))
        held_logits = run_batched(engine, {INPUT_NAME: held_input})[OUTPUT_NAME]
        measured = evaluate(held_logits, held.labels)
        with torch.no_grad():
            torch_logits = net(torch.from_numpy(held_input)).numpy()
        measured["heldout_top1_agreement_vs_torch"] = float(np.mean(torch_logits.argmax(1) == held_logits.argmax(1)))
        measured.update({"train_crops": float(len(crops)), "epochs": float(plan.epochs),
                         "train_seconds": round(train_s, 1), "data_seconds": round(data_s, 1)})
        golden_idx = _golden(held, held_logits)
        GoldenSet(
            inputs={INPUT_NAME: held_input[golden_idx]},
            expected={OUTPUT_NAME: held_logits[golden_idx]},
            reference={"top1": torch_logits[golden_idx].argmax(1).astype(np.int64)},
        ).save(staging / "golden.npz")
        steps = (
            plan.describe(),
            "frames rendered by sim.industrial.IndustrialScene (the generator of `bag synth --scene industrial`), "
            f"parts segmented by industrial.segmentation (belt_roi {list(BELT_ROI)}), matched to ground truth at "
            f"IoU >= {MATCH_IOU}, labels = ground-truth defect ('none' -> 'ok')",
            "CNN defined in edge_llm_ros.app.prepare.defect_classifier.build_network, trained from scratch "
            "(class-weighted cross entropy, label smoothing 0.05, dihedral flips, brightness/contrast jitter)",
            f"torch.onnx.export(dynamo=True, opset {OPSET}, dynamic batch dim, example batch 2) with torch "
            f"{tools['torch']}; external .onnx.data folded into one file; max |diff| vs torch {diff:.2e}",
            f"held-out accuracy: seed {plan.heldout_seed}, top-1 {measured['heldout_top1_accuracy']:.4f}, defect "
            f"precision {measured['heldout_defect_precision']:.4f} recall {measured['heldout_defect_recall']:.4f}",
        )
        files = [
            FileEntry(path=p, sha256=sha256_file(staging / p), size_bytes=(staging / p).stat().st_size,
                      role="model" if p.endswith(".onnx") else "golden")
            for p in ("model.onnx", "golden.npz")
        ]
        Manifest(
            name=NAME,
            version=version,
            kind="classifier",
            description="Conveyor part defect classifier (ok / scratch / missing_hole / crack / dent / "
            "discoloration), small CNN trained on synthetic conveyor runs, FP32",
            model_file="model.onnx",
            files=tuple(files),
            inputs=(TensorSpec(INPUT_NAME, ("batch", 3, IMAGE_SIZE, IMAGE_SIZE), "float32"),),
            outputs=(TensorSpec(OUTPUT_NAME, ("batch", len(DEFECT_CLASSES)), "float32"),),
            license=LICENSE,
            provenance=Provenance(
                source_package="edge_llm_ros",
                source_version=_version("edge_llm_ros"),
                source_license=f"{LICENSE} (trained here from synthetic data; no third-party weights)",
                steps=steps,
                tools=tools,
                source_files={},
                created_utc=datetime.now(UTC).replace(microsecond=0).isoformat(),
            ),
            accuracy=AccuracyGate("top1_agreement", MAX_TOP1_DROP, version, measured),
            preprocess=preprocess_spec(),
            labels=label_map(),
            golden=GoldenSpec(
                file="golden.npz",
                count=len(golden_idx),
                description=f"{GOLDEN_PER_CLASS} held-out crops per class (seed {plan.heldout_seed}) the model "
                "classifies right most confidently; reference.top1 = torch's class, expected.logits = ONNX",
            ),
        ).save(staging)
        ref = store.commit(staging, overwrite=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report = check_engine(OrtEngine(ref, EngineOptions(intra_op_threads=1, warmup_runs=1)))
    log(f"{NAME}: {report.summary()}; held-out top-1 {measured['heldout_top1_accuracy']:.4f}, defect precision "
        f"{measured['heldout_defect_precision']:.4f} recall {measured['heldout_defect_recall']:.4f} "
        f"({time.perf_counter() - started:.0f} s in all)")
    if not report.passed:
        store.remove(NAME, version)
        raise ModelError(f"{NAME}@{version} failed its golden gate and was removed: {report.summary()}")
    store.pin(NAME, version)
    return [ref]
