"""`optimize fp16`: FP16 ONNX, and TensorRT engines (ORT TensorRT EP, optionally torch2trt) where a GPU is present.

- FP16 conversion (onnxconverter-common `convert_float_to_float16`, inputs and outputs kept
  float32 so the pipeline's Preprocessor and the manifest's I/O stay as they are) runs anywhere and
  halves the weights. It pays off on GPUs (tensor cores); onnxruntime's CPU provider runs most
  FP16 ops through casts, so on a CPU the FP16 model is smaller but not faster.
- TensorRT: onnxruntime's TensorRT execution provider builds an engine on the first run and caches
  it. An engine is only valid for the TensorRT version that built it, the GPU architecture
  (compute capability) it was built on, and the precision flags; a stale one fails to load or
  silently runs with other kernels. The cache directory is therefore keyed
  `<root>/<model sha256[:16]>/trt<version>_sm<major><minor>_<precision>`, so upgrading TensorRT,
  moving the cache to another GPU, or switching precision builds a new engine instead of reusing
  a wrong one.
- torch2trt (optional, when installed with a CUDA torch): converts the torch network directly.

Every GPU path checks first and raises `GpuUnavailableError` with the reason (no TensorRT provider
in this onnxruntime build, no NVIDIA GPU, torch without CUDA, torch2trt not installed), which the
CLI prints as a clean skip.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from edge_llm_ros.compression.check import CheckReport
from edge_llm_ros.compression.metrics import latency_batch
from edge_llm_ros.compression.publish import MODEL_FILE, Variant, tool_versions, variant_version
from edge_llm_ros.compression.workflow import Session
from edge_llm_ros.models.store import ModelRef

TRT_PROVIDER = "TensorrtExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
PRECISIONS = ("fp32", "fp16", "int8")
_NVINFER = ("libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so")


class GpuUnavailableError(RuntimeError):
    """A GPU path cannot run here; the message says why (printed as a skip)."""


def convert_fp16(source: Path, out_path: Path) -> Path:
    """FP16 weights and compute, float32 inputs/outputs (keep_io_types); writes `out_path`."""
    from onnxconverter_common import float16

    model = onnx.load(str(source), load_external_data=True)
    with warnings.catch_warnings():
        # It warns once per weight too small for FP16's range (truncated to +-1e-7): expected, harmless.
        warnings.simplefilter("ignore", UserWarning)
        converted = float16.convert_float_to_float16(model, keep_io_types=True)
    onnx.save_model(converted, str(out_path), save_as_external_data=False)
    onnx.checker.check_model(str(out_path))
    return out_path


def fp16(
    session: Session,
    *,
    version: str | None = None,
    max_drop: float | None = None,
    overwrite: bool = False,
) -> CheckReport:
    """Convert the session's parent to FP16, write it into the store and check it (on the CPU here)."""
    parent = session.parent
    staging = session.staging()
    try:
        with session.progress("convert to FP16", 1) as update:
            convert_fp16(parent.model_path, staging / MODEL_FILE)
            update(1)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    variant = Variant(
        method="fp16",
        version=version or variant_version(parent.version, "fp16"),
        description=f"{parent.manifest.description or parent.model_id}; FP16 weights and compute, float32 I/O",
        parameters={"keep_io_types": True},
        steps=["onnxconverter_common.float16.convert_float_to_float16(keep_io_types=True): FP16 initializers "
               "and compute, Cast at the float32 inputs and outputs"],
        tools=tool_versions("onnxconverter-common"),
    )
    return session.finish(staging, variant, max_drop=max_drop, overwrite=overwrite)


# ---------------------------------------------------------------------------------------- GPU probes
def gpu_compute_capability() -> tuple[int, int]:
    """(major, minor) of GPU 0, from torch.cuda or nvidia-smi; GpuUnavailableError when there is none."""
    try:
        import torch

        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability(0)
            return int(major), int(minor)
    except ImportError:
        pass
    smi = shutil.which("nvidia-smi")
    if smi is None:
        raise GpuUnavailableError("no NVIDIA GPU: nvidia-smi is not installed and torch sees no CUDA device")
    try:
        out = subprocess.run(
            [smi, "--query-gpu=compute_cap", "--format=csv,noheader"], capture_output=True, text=True, timeout=10,
            check=True,
        ).stdout.split()
    except (subprocess.SubprocessError, OSError) as exc:
        raise GpuUnavailableError(f"no NVIDIA GPU: nvidia-smi failed ({exc})") from exc
    if not out:
        raise GpuUnavailableError("no NVIDIA GPU: nvidia-smi lists no device")
    major_text, _, minor_text = out[0].partition(".")
    return int(major_text), int(minor_text or 0)


def tensorrt_version() -> str:
    """TensorRT version from the `tensorrt` package or libnvinfer; GpuUnavailableError when not installed."""
    try:
        import tensorrt

        return str(tensorrt.__version__)
    except ImportError:
        pass
    for name in _NVINFER:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.getInferLibVersion.restype = ctypes.c_int32
        code = int(lib.getInferLibVersion())  # e.g. 100300 = 10.3.0 (major*10000 + minor*100 + patch)
        return f"{code // 10000}.{code // 100 % 100}.{code % 100}"
    raise GpuUnavailableError("TensorRT is not installed (no tensorrt package, no libnvinfer)")


def tensorrt_status() -> str:
    """'' when the ORT TensorRT EP can run here, else the reason it cannot."""
    if TRT_PROVIDER not in ort.get_available_providers():
        return (
            f"onnxruntime {ort.__version__} has no {TRT_PROVIDER} (this is a CPU build; install an onnxruntime-gpu "
            "build with TensorRT on a machine with an NVIDIA GPU)"
        )
    try:
        gpu_compute_capability()
        tensorrt_version()
    except GpuUnavailableError as exc:
        return str(exc)
    return ""


@dataclass(frozen=True)
class TrtCacheKey:
    """What a TensorRT engine is only valid for."""

    model_sha256: str
    tensorrt: str
    compute_capability: tuple[int, int]
    precision: str

    def directory(self, root: Path) -> Path:
        """`<root>/<sha[:16]>/trt<version>_sm<major><minor>_<precision>`."""
        major, minor = self.compute_capability
        return Path(root) / self.model_sha256[:16] / f"trt{self.tensorrt}_sm{major}{minor}_{self.precision}"


def trt_cache_key(ref: ModelRef, precision: str) -> TrtCacheKey:
    """The cache key of `ref` on this machine; GpuUnavailableError when TensorRT or the GPU is missing."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return TrtCacheKey(ref.manifest.model_entry.sha256, tensorrt_version(), gpu_compute_capability(), precision)


def trt_provider_options(cache_dir: Path, precision: str) -> dict[str, str]:
    """ORT TensorRT EP options: engine + timing cache in `cache_dir`, precision flags."""
    return {
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(cache_dir),
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": str(cache_dir),
        "trt_fp16_enable": "True" if precision in ("fp16", "int8") else "False",
        "trt_int8_enable": "True" if precision == "int8" else "False",
    }


@dataclass(frozen=True)
class TrtEngineResult:
    """Where the engine went, how long the build (first run) took and the steady ms per crop."""

    cache_dir: Path
    key: TrtCacheKey
    build_s: float
    ms_per_crop: float
    cached_files: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "cache_dir": str(self.cache_dir), "tensorrt": self.key.tensorrt,
            "compute_capability": ".".join(map(str, self.key.compute_capability)), "precision": self.key.precision,
            "build_s": self.build_s, "ms_per_crop": self.ms_per_crop, "cached_files": list(self.cached_files),
        }


def build_tensorrt_engine(
    session: Session, ref: ModelRef, *, precision: str = "fp16", cache_root: Path, batch: int = 8
) -> TrtEngineResult:
    """Build (or reuse) the TensorRT engine of `ref` through ORT's TensorRT EP and time it on real crops."""
    from edge_llm_ros.compression.metrics import ms_per_crop
    from edge_llm_ros.inference.engine import EngineOptions, OrtEngine

    reason = tensorrt_status()
    if reason:
        raise GpuUnavailableError(reason)
    key = trt_cache_key(ref, precision)
    cache_dir = key.directory(cache_root)
    cache_dir.mkdir(parents=True, exist_ok=True)
    options = EngineOptions(
        providers=(TRT_PROVIDER, CUDA_PROVIDER),
        provider_options={TRT_PROVIDER: trt_provider_options(cache_dir, precision)},
        warmup_runs=0,
    )
    engine = OrtEngine(ref, options)
    if TRT_PROVIDER not in engine.providers:
        raise GpuUnavailableError(f"onnxruntime could not start {TRT_PROVIDER} (providers: {list(engine.providers)})")
    inputs = latency_batch(ref.manifest, session.heldout, batch)
    start = time.perf_counter()
    engine.run(inputs)  # the first run builds the engine (or loads it from the cache)
    build_s = time.perf_counter() - start
    ms = ms_per_crop(engine, inputs)
    files = tuple(sorted(p.name for p in cache_dir.iterdir()))
    return TrtEngineResult(cache_dir, key, build_s, ms, files)


def torch2trt_status() -> str:
    """'' when torch2trt can run here, else why not."""
    try:
        import torch
        import torch2trt  # noqa: F401  (only probing that it is installed)
    except ImportError as exc:
        return f"torch2trt is optional and not installed ({exc.name} missing)"
    if not torch.cuda.is_available():
        return "torch2trt needs a CUDA build of torch and a GPU; this torch has no CUDA device"
    return ""


def build_torch2trt(module: Any, example: np.ndarray, precision: str = "fp16") -> Any:
    """Convert a torch module with torch2trt (FP16 when asked); GpuUnavailableError when it cannot run here."""
    reason = torch2trt_status()
    if reason:
        raise GpuUnavailableError(reason)
    import torch
    from torch2trt import torch2trt

    x = torch.from_numpy(example).cuda()
    return torch2trt(module.eval().cuda(), [x], fp16_mode=precision == "fp16", max_batch_size=int(example.shape[0]))
