"""`optimize quantize`: INT8 with onnxruntime, static for CNNs, dynamic for transformer/LLM-style graphs.

Which one, and why (`choose_method`, used by `--method auto`):
- static (QDQ, per-channel weights, calibrated activations): for convolutional graphs. Activation
  ranges are measured once on real ROI crops of a drive, so every Conv runs INT8 end to end
  with fixed scales. Our static path (models.quantize.quantize_int8_static) also corrects the
  bias shift caused by weight rounding, which EfficientNet-Lite's BN-folded depthwise convs need.
- dynamic (weights INT8 offline, activation scales computed per batch at run time): for graphs
  whose weights sit in MatMul/Gemm (transformers, LLM decoders). Their activations depend on the
  prompt and have outliers a fixed calibration would clip, and dynamic needs no calibration data.
  On a CNN it hurts: ConvInteger re-quantizes every activation per batch with a per-tensor scale
  (depthwise layers lose most) and the extra quantize/dequantize work eats the speed-up; the
  benchmark's INT8-dynamic row shows it.
A graph is "convolutional" when its Conv weights hold more parameters than its MatMul/Gemm weights;
an LLM manifest (kind `llm`) is always dynamic. A graph whose weights are already quantized
(QLinear*/MatMulNBits/DequantizeLinear initialisers) is refused: quantizing twice only loses accuracy.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from edge_llm_ros.compression.check import CheckReport
from edge_llm_ros.compression.metrics import classifier_parts
from edge_llm_ros.compression.publish import MODEL_FILE, Variant, tool_versions, variant_version
from edge_llm_ros.compression.workflow import Session
from edge_llm_ros.models.errors import ModelError
from edge_llm_ros.models.manifest import Manifest
from edge_llm_ros.models.quantize import STEPS as STATIC_STEPS
from edge_llm_ros.models.quantize import quantize_int8_static

METHODS = ("auto", "static", "dynamic")
DEFAULT_CALIBRATION_CROPS = 128
_QUANTIZED_OPS = frozenset({
    "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "MatMulNBits", "DynamicQuantizeLinear",
    "DequantizeLinear",
})


@dataclass(frozen=True)
class GraphCensus:
    """Weight parameters by consumer type, and whether the graph is already quantized."""

    conv_params: int
    matmul_params: int
    quantized_ops: tuple[str, ...]

    @property
    def convolutional(self) -> bool:
        """True when Conv weights outweigh MatMul/Gemm weights."""
        return self.conv_params >= self.matmul_params


def graph_census(model_path: Path) -> GraphCensus:
    """Count initializer parameters feeding Conv vs MatMul/Gemm nodes (weights not loaded from external data)."""
    model = onnx.load(str(model_path), load_external_data=False)
    sizes = {init.name: int(np.prod(init.dims)) if init.dims else 1 for init in model.graph.initializer}
    conv = matmul = 0
    quantized: set[str] = set()
    for node in model.graph.node:
        if node.op_type in _QUANTIZED_OPS:
            quantized.add(node.op_type)
        weights = sum(sizes.get(name, 0) for name in node.input[1:2])
        if node.op_type in ("Conv", "ConvTranspose"):
            conv += weights
        elif node.op_type in ("MatMul", "Gemm"):
            matmul += weights
    return GraphCensus(conv, matmul, tuple(sorted(quantized)))


def choose_method(manifest: Manifest, model_path: Path) -> tuple[str, str]:
    """(`static` or `dynamic`, the reason) for a model, from its kind and its graph."""
    census = graph_census(model_path)
    if census.quantized_ops:
        raise ModelError(
            f"{manifest.model_id} is already quantized ({', '.join(census.quantized_ops)}); "
            "quantize its float parent instead"
        )
    if manifest.kind == "llm":
        return "dynamic", "LLM decoder: MatMul weights, prompt-dependent activations, no calibration set"
    if census.convolutional:
        return "static", (
            f"convolutional graph ({census.conv_params:,} Conv vs {census.matmul_params:,} MatMul/Gemm weight "
            "parameters): static QDQ with calibration on drive crops keeps CNN accuracy"
        )
    return "dynamic", (
        f"MatMul/Gemm-dominated graph ({census.matmul_params:,} vs {census.conv_params:,} Conv weight parameters): "
        "transformer-style, dynamic activation scales"
    )


def quantize_dynamic_int8(source: Path, out_path: Path) -> Path:
    """Dynamic INT8 with onnxruntime: signed per-channel weights, activation scales computed at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    tmp = out_path.with_name("pre.onnx")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quant_pre_process(str(source), str(tmp))
        # onnxruntime logs a "consider pre-processing" hint at WARNING on the root logger; it was done.
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(str(tmp), str(out_path), weight_type=QuantType.QInt8, per_channel=True)
        finally:
            root.setLevel(level)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path


def quantize(
    session: Session,
    *,
    method: str = "auto",
    calibration_crops: int = DEFAULT_CALIBRATION_CROPS,
    version: str | None = None,
    max_drop: float | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> CheckReport:
    """Quantize the session's parent to INT8, write it into the store, and check it. Returns the check report."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    parent = session.parent
    reason = "chosen on the command line"
    if method == "auto":
        method, reason = choose_method(parent.manifest, parent.model_path)
    elif graph_census(parent.model_path).quantized_ops:
        choose_method(parent.manifest, parent.model_path)  # raises: already quantized
    staging = session.staging()
    out = staging / MODEL_FILE
    params: dict[str, object] = {"method": method, "reason": reason}
    try:
        if method == "static":
            spec, _ = classifier_parts(parent.manifest)
            calib = session.train.sample(calibration_crops, seed)
            if len(calib) == 0:
                raise ModelError("static quantization needs training crops for calibration")
            params.update(calibration_crops=len(calib), calibration_seed=seed)
            with session.progress("static INT8 (calibrating on drive crops)", 1) as update:
                # onnxruntime's calibrator prints its histogram progress to stdout: keep tables clean.
                with contextlib.redirect_stdout(io.StringIO()):
                    quantize_int8_static(parent.model_path, out, spec.input_name, calib.preprocess(spec))
                update(1)
            steps = [*STATIC_STEPS, f"calibration: {len(calib)} training crops (seed {seed}) of "
                     f"{', '.join(sorted({Path(s).name for s in calib.sources}))}, cut at ground-truth boxes "
                     "and letterboxed like the pipeline"]
            suffix, what = "int8-static", "static INT8 QDQ (per-channel), calibrated on drive crops"
        else:
            with session.progress("dynamic INT8", 1) as update:
                quantize_dynamic_int8(parent.model_path, out)
                update(1)
            steps = ["onnxruntime.quantization.shape_inference.quant_pre_process",
                     "onnxruntime.quantization.quantize_dynamic: weights QInt8 per-channel, "
                     "activations quantized per batch at run time"]
            suffix, what = "int8-dynamic", "dynamic INT8 (weights offline, activations per batch)"
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    variant = Variant(
        method=f"quantize-{method}",
        version=version or variant_version(parent.version, suffix),
        description=f"{parent.manifest.description or parent.model_id}; {what}",
        parameters=params,
        steps=steps,
        tools=tool_versions(),
    )
    return session.finish(staging, variant, max_drop=max_drop, overwrite=overwrite)

