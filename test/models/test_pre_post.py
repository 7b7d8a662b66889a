from __future__ import annotations

import numpy as np
import pytest

from edge_llm_ros.app.prepare.person_detector import detector_spec
from edge_llm_ros.inference.detector_postprocess import decode_detections, person_boxes
from edge_llm_ros.inference.preprocess import Preprocessor
from edge_llm_ros.models.manifest import DetectorSpec, PreprocessSpec
from edge_llm_ros.roi.boxes import iou_matrix

SPEC = PreprocessSpec("x", "NCHW", 8, 8, (127.0, 127.0, 127.0), (128.0, 128.0, 128.0), pad_value=127)


def test_letterbox_pads_keeps_aspect_and_normalises_in_place() -> None:
    pre = Preprocessor(SPEC)
    batch = pre.allocate(2)
    crop = np.full((4, 8, 3), 255, np.uint8)  # wide crop -> padded top and bottom
    box = pre.fill(batch, 1, crop)
    assert (box.pad_x, box.pad_y, box.scale_x, box.scale_y) == (0, 2, 1.0, 1.0)
    item = batch[1]
    assert item.shape == (3, 8, 8)
    np.testing.assert_allclose(item[:, 2:6, :], (255 - 127) / 128)
    np.testing.assert_allclose(item[:, :2, :], 0.0)  # pad 127 -> 0 after normalisation
    assert np.all(batch[0] == 0)  # other slots untouched
    assert box.to_source(4.0, 2.0) == (4.0, 0.0)


def test_fill_writes_into_the_given_buffer() -> None:
    pre = Preprocessor(SPEC)
    batch = pre.allocate(1)
    before = batch.__array_interface__["data"][0]
    pre.fill(batch, 0, np.zeros((20, 10, 3), np.uint8))
    assert batch.__array_interface__["data"][0] == before
    np.testing.assert_allclose(batch[0, :, :, 2:6], -127 / 128)


def test_stretch_nhwc_uint8_and_channel_order() -> None:
    spec = PreprocessSpec("img", "NHWC", 4, 6, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), dtype="uint8", resize="stretch")
    crop = np.zeros((8, 8, 3), np.uint8)
    crop[..., 0] = 10
    crop[..., 2] = 200
    batch, boxes = Preprocessor(spec)([crop])
    assert batch.shape == (1, 4, 6, 3) and batch.dtype == np.uint8
    assert np.all(batch[0, ..., 0] == 10) and np.all(batch[0, ..., 2] == 200)
    assert boxes[0].scale_x == pytest.approx(6 / 8)
    bgr, _ = Preprocessor(spec, source_color_order="BGR")([crop])
    assert np.all(bgr[0, ..., 0] == 200)


def test_preprocess_rejects_bad_crops() -> None:
    pre = Preprocessor(SPEC)
    batch = pre.allocate(1)
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        pre.fill(batch, 0, np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        pre.fill(batch, 0, np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="output buffer"):
        pre.fill(np.zeros((1, 8, 8, 3), np.float32), 0, np.zeros((4, 4, 3), np.uint8))


def _raw(n_images: int) -> dict[str, np.ndarray]:
    boxes = np.zeros((n_images, 100, 4), np.float32)
    scores = np.zeros((n_images, 100), np.float32)
    classes = np.zeros((n_images, 100), np.float32)
    boxes[0, 0] = [0.1, 0.2, 0.5, 0.6]  # ymin, xmin, ymax, xmax
    scores[0, 0], classes[0, 0] = 0.9, 1
    boxes[0, 1] = [0.0, 0.0, 1.0, 1.0]
    scores[0, 1], classes[0, 1] = 0.95, 3  # a car: not a person
    boxes[0, 2] = [0.3, 0.3, 0.4, 0.4]
    scores[0, 2], classes[0, 2] = 0.2, 1  # below threshold
    counts = np.array([3] + [0] * (n_images - 1), np.float32)
    return {"detection_boxes": boxes, "detection_scores": scores, "detection_classes": classes,
            "num_detections": counts}


def test_decode_detections_to_pixel_boxes() -> None:
    spec: DetectorSpec = detector_spec()
    found = decode_detections(_raw(2), spec, [(100, 200), (50, 50)], class_ids=[1])
    assert len(found) == 2 and len(found[1]) == 0
    np.testing.assert_allclose(found[0].boxes, [[40.0, 10.0, 120.0, 50.0]], rtol=1e-5)
    assert found[0].scores.tolist() == pytest.approx([0.9])
    every = decode_detections(_raw(1), spec, [(10, 10)], score_threshold=0.1)[0]
    assert every.class_ids.tolist() == [3, 1, 1]  # best score first
    with pytest.raises(ValueError, match="image sizes"):
        decode_detections(_raw(2), spec, [(1, 1)])


def test_iou_matrix() -> None:
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 1 / 3, 0.0]], rtol=1e-5)
    assert iou_matrix(a, np.zeros((0, 4), np.float32)).shape == (1, 0)


def test_person_boxes_needs_a_detector_manifest(make_model_dir: object) -> None:
    from edge_llm_ros.models.manifest import Manifest

    manifest = Manifest.load(make_model_dir())  # type: ignore[operator]
    with pytest.raises(ValueError, match="not a detector"):
        person_boxes(_raw(1), manifest, [(1, 1)])
