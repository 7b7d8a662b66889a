"""vision_inference node: image + ROI proposals -> /edge_llm/detections, through a dynamic batcher.

Every ROI of a frame is one batcher request; batches form across the ROIs of a frame and across
cameras. A frame's detections are published when each of its ROIs is classified or dropped
(late requests are dropped and counted, never served stale), stamped with the source frame.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from numpy.typing import NDArray

from edge_llm_ros.decision.classified import ClassifiedRoi
from edge_llm_ros.fusion.input_gate import InputGate
from edge_llm_ros.inference.backend import BACKENDS, DEFAULT_BACKEND
from edge_llm_ros.inference.batcher import BatcherConfig, DynamicBatcher
from edge_llm_ros.nodes import topics
from edge_llm_ros.nodes.admission import admit
from edge_llm_ros.nodes.convert import (
    ImageError,
    detections_from_msg,
    detections_msg,
    image_to_rgb,
    string_msg,
    timing_record,
)
from edge_llm_ros.roi.boxes import Box
from edge_llm_ros.runtime.clock import stamp_to_ns
from edge_llm_ros.runtime.lifecycle import CallbackReturn
from edge_llm_ros.runtime.managed_node import ManagedNode
from edge_llm_ros.runtime.params import ParameterSchema, ParameterSpec
from edge_llm_ros.runtime.sync import ExactTimeSync
from edge_llm_ros.transport.bus import MessageInfo


@dataclass
class _Frame:
    stamp_ns: int
    camera: str
    started_ns: int
    expected: int
    results: dict[int, ClassifiedRoi] = field(default_factory=dict)
    resolved: int = 0
    model_span: tuple[int, int] | None = None


@dataclass(frozen=True)
class _Crop:
    frame: _Frame
    index: int
    image: NDArray[Any]
    box: Box
    track_id: str | None


class VisionInferenceNode(ManagedNode):
    """Glue between the proposals, the batcher and an ONNX classifier."""

    PARAMETERS = ParameterSchema.of(
        ParameterSpec("cameras", "list[str]", ["camera"]),
        ParameterSpec("model", "str", "roi_classifier"),
        ParameterSpec("model_version", "str", "", "Pinned version ('' = newest in the store)"),
        ParameterSpec("model_store", "str", "", "Model store directory ('' = default)"),
        ParameterSpec("backend", "str", DEFAULT_BACKEND, "Inference backend", choices=tuple(BACKENDS)),
        ParameterSpec("execution_providers", "list[str]", ["CPUExecutionProvider"]),
        ParameterSpec("intra_op_threads", "int", 1, min=1, max=64),
        ParameterSpec("inter_op_threads", "int", 1, min=1, max=64),
        ParameterSpec("max_batch", "int", 8, min=1, max=256),
        ParameterSpec("max_queue_delay_s", "float", 0.002, min=0.0, max=1.0),
        ParameterSpec("deadline_s", "float", 0.08, "Per-ROI deadline from arrival (0 = none)", min=0.0, max=10.0),
    )

    def on_configure(self) -> CallbackReturn:
        from edge_llm_ros.inference.classifier import load_classifier
        from edge_llm_ros.models.errors import ModelError

        p = self.params
        try:
            self.classifier = load_classifier(
                p["model"],
                p["model_version"] or None,
                store=p["model_store"] or None,
                providers=p["execution_providers"],
                intra_op_threads=p["intra_op_threads"],
                inter_op_threads=p["inter_op_threads"],
                backend=p["backend"],
            )
        except (ModelError, OSError, ValueError) as exc:
            self.machine.last_error = f"model {p['model']!r}: {exc}"
            self.log.error("configure failed: %s", self.machine.last_error)
            return CallbackReturn.FAILURE
        self.batch_buffer = self.classifier.allocate(p["max_batch"])
        self.batcher: DynamicBatcher[_Crop, ClassifiedRoi] = DynamicBatcher(
            BatcherConfig(
                p["max_batch"], p["max_queue_delay_s"], p["deadline_s"], max_queue=max(64, 8 * p["max_batch"])
            ),
            self._run_batch,
            name=f"{self.name}-batcher",
        )
        self._frames_lock = threading.Lock()
        self.sync = ExactTimeSync(("image", "proposals"))
        self.report_counters("sync:", self.sync.counters)
        # A bad image must never take the slot of its instant in the exact-time sync (issue 15).
        self.gate = InputGate()
        for camera in p["cameras"]:
            image_topic, _ = topics.camera_topics(camera)
            self.create_subscription(image_topic, topics.IMAGE, self._on_image_from(image_topic), "sensor_data")
        self.create_subscription(topics.PROPOSALS_TOPIC, topics.DETECTIONS, self._on_proposals, "pipeline")
        self.detections_pub = self.create_publisher(topics.DETECTIONS_TOPIC, topics.DETECTIONS, "pipeline")
        self.timing_pub = self.create_publisher(topics.TIMING_TOPIC, topics.STRING, "pipeline")
        return CallbackReturn.SUCCESS

    def on_cleanup(self) -> CallbackReturn:
        self.batcher.close()
        return CallbackReturn.SUCCESS

    def on_shutdown(self) -> CallbackReturn:
        if hasattr(self, "batcher"):
            self.batcher.close()
        return CallbackReturn.SUCCESS

    def idle(self) -> bool:
        """No ROI waiting or running (closed-loop replays wait for this)."""
        return not hasattr(self, "batcher") or self.batcher.pending() == 0

    # ------------------------------------------------------------------ inputs
    def _on_image_from(self, topic: str) -> Any:
        def handle(msg: Any, info: MessageInfo) -> None:
            if admit(self, self.gate, self.resolve(topic), topics.IMAGE, msg, info):
                self._on_image(msg, info)

        return handle

    def on_time_reset(self) -> None:
        """Image stamps restart with the drive: the gate forgets their order."""
        super().on_time_reset()
        if hasattr(self, "gate"):
            self.gate.reset()

    def _on_image(self, msg: Any, _info: MessageInfo) -> None:
        self._arrived((stamp_to_ns(msg.header.stamp), str(msg.header.frame_id)), "image", msg)

    def _on_proposals(self, msg: Any, _info: MessageInfo) -> None:
        stamp, camera, rois = detections_from_msg(msg)
        self._arrived((stamp, camera), "proposals", rois)

    def _arrived(self, key: tuple[int, str], slot: str, value: Any) -> None:
        matched = self.sync.add(slot, key, value)
        if matched is None:
            return
        image_msg, proposals = matched
        frame = _Frame(key[0], key[1], self.span_ns(), len(proposals))
        if not proposals:
            self._publish(frame)
            return
        try:
            image = image_to_rgb(image_msg)
        except ImageError as exc:
            self.counters["bad_input:image"] += 1
            self.log.warning("dropped frame: %s", exc)
            return
        for index, roi in enumerate(proposals):
            self.batcher.submit(
                _Crop(frame, index, image, roi.bbox, roi.track_id),
                on_result=functools.partial(self._on_result, frame, index),
                on_drop=functools.partial(self._on_drop, frame, index),
            )

    # ------------------------------------------------------------------ batch worker
    def _run_batch(self, crops: Sequence[_Crop]) -> list[ClassifiedRoi]:
        for slot, crop in enumerate(crops):
            x1, y1, x2, y2 = (round(v) for v in crop.box)
            self.classifier.fill(self.batch_buffer, slot, crop.image[max(0, y1) : y2, max(0, x1) : x2])
        start = self.span_ns()
        labels = self.classifier.classify(self.batch_buffer[: len(crops)])
        end = self.span_ns()
        for crop in crops:  # the model run that served a frame's last crop is its model time
            crop.frame.model_span = (start, end)
        return [
            ClassifiedRoi(crop.track_id, label, score, crop.box)
            for crop, (label, score) in zip(crops, labels, strict=True)
        ]

    def _on_result(self, frame: _Frame, index: int, result: ClassifiedRoi) -> None:
        self._resolved(frame, index, result)

    def _on_drop(self, frame: _Frame, index: int, reason: str) -> None:
        self._resolved(frame, index, None, reason)

    def _resolved(self, frame: _Frame, index: int, result: ClassifiedRoi | None, reason: str = "") -> None:
        with self._frames_lock:
            if result is not None:
                frame.results[index] = result
            else:
                self.counters[f"dropped:{reason}"] += 1
            frame.resolved += 1
            done = frame.resolved == frame.expected
        if done:
            self._publish(frame)

    def _publish(self, frame: _Frame) -> None:
        rois = [frame.results[i] for i in sorted(frame.results)]
        end = self.span_ns()
        # Timing first: the decision node decides as soon as the detections arrive.
        record = timing_record(frame.stamp_ns, frame.camera, "vision", frame.started_ns, end, rois=frame.expected)
        self.timing_pub.publish(string_msg(self.codec, record))
        if frame.model_span is not None:
            span = timing_record(frame.stamp_ns, frame.camera, "vision.model", *frame.model_span)
            self.timing_pub.publish(string_msg(self.codec, span))
        self.detections_pub.publish(detections_msg(self.codec, frame.stamp_ns, frame.camera, rois))

    def batching(self) -> DynamicBatcher[_Crop, ClassifiedRoi] | None:
        """The batcher, once configured."""
        return getattr(self, "batcher", None)
