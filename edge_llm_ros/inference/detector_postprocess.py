"""Raw detector outputs (TF object-detection style) -> boxes in source-image pixels.

The shipped person detector (SSDLite-MobileNetV2, COCO) outputs, per image, `num_detections`,
`detection_boxes` [N, max, 4] as normalised (ymin, xmin, ymax, xmax), `detection_scores` and
`detection_classes` (COCO ids as floats, person = 1). Its input is the frame stretched to 300x300,
so normalised coordinates map straight back onto the original frame.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edge_llm_ros.models.manifest import DetectorSpec, Manifest


@dataclass(frozen=True)
class Detections:
    """Detections of one image: boxes [K, 4] (x1, y1, x2, y2 pixels, float32), scores [K], source class ids [K]."""

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray

    def __len__(self) -> int:
        """Number of detections."""
        return int(self.scores.shape[0])


def decode_detections(
    outputs: Mapping[str, np.ndarray],
    spec: DetectorSpec,
    image_sizes: Sequence[tuple[int, int]],
    *,
    class_ids: Collection[int] | None = None,
    score_threshold: float | None = None,
) -> list[Detections]:
    """One Detections per image, best score first.

    `image_sizes` are the (height, width) of the frames the batch was made from. Only detections
    with score >= threshold (default: the spec's) and, when `class_ids` is given, of those classes.
    """
    boxes = outputs[spec.boxes_output]
    scores = outputs[spec.scores_output]
    classes = outputs[spec.classes_output]
    counts = outputs[spec.count_output]
    if len(image_sizes) != boxes.shape[0]:
        raise ValueError(f"{len(image_sizes)} image sizes for a batch of {boxes.shape[0]}")
    threshold = spec.score_threshold if score_threshold is None else score_threshold
    wanted = None if class_ids is None else np.fromiter(class_ids, dtype=np.int64)
    result: list[Detections] = []
    for i, (height, width) in enumerate(image_sizes):
        n = int(min(counts[i], boxes.shape[1]))
        cls = np.rint(classes[i, :n]).astype(np.int64)
        keep = scores[i, :n] >= threshold
        if wanted is not None:
            keep &= np.isin(cls, wanted)
        yxyx = boxes[i, :n][keep].astype(np.float32)
        scale = np.array([width, height, width, height], dtype=np.float32)
        xyxy = np.clip(yxyx[:, [1, 0, 3, 2]], 0.0, 1.0) * scale
        sc = scores[i, :n][keep].astype(np.float32)
        order = np.argsort(-sc, kind="stable")
        result.append(Detections(boxes=xyxy[order], scores=sc[order], class_ids=cls[keep][order]))
    return result


def person_boxes(
    outputs: Mapping[str, np.ndarray],
    manifest: Manifest,
    image_sizes: Sequence[tuple[int, int]],
    score_threshold: float | None = None,
) -> list[Detections]:
    """Person detections per image, using the manifest's detector spec and label map (class "person")."""
    if manifest.detector is None or manifest.labels is None:
        raise ValueError(f"{manifest.model_id} is not a detector with a label map")
    ids = manifest.labels.source_ids("person")
    return decode_detections(outputs, manifest.detector, image_sizes, class_ids=ids, score_threshold=score_threshold)
