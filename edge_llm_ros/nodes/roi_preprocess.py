"""roi_preprocess node: image + fused scene -> ROI proposals (radar boxes merged with person detections).

With `proposals: parts` (industrial inspection, no radar) the proposals are instead the fully
visible parts segmented from the conveyor image, each with its tracked part id as the detection id
(edge_llm_ros.industrial.proposals).

Crops are not shipped between processes: the proposals (a vision_msgs/Detection2DArray of boxes
and track ids) are small, and the inference node letterboxes each box straight from the image
it already receives into its preallocated batch tensor.
"""

from __future__ import annotations

from typing import Any

from edge_llm_ros.decision.classified import ClassifiedRoi
from edge_llm_ros.fusion.input_gate import InputGate
from edge_llm_ros.fusion.scene import FusedScene, SceneDecodeError
from edge_llm_ros.inference.backend import BACKENDS, DEFAULT_BACKEND
from edge_llm_ros.nodes import topics
from edge_llm_ros.nodes.admission import admit
from edge_llm_ros.nodes.convert import ImageError, detections_msg, image_to_rgb, string_msg, timing_record
from edge_llm_ros.roi.proposals import RoiConfig, propose
from edge_llm_ros.runtime.clock import stamp_to_ns
from edge_llm_ros.runtime.lifecycle import CallbackReturn
from edge_llm_ros.runtime.managed_node import ManagedNode
from edge_llm_ros.runtime.params import ParameterSchema, ParameterSpec
from edge_llm_ros.runtime.sync import ExactTimeSync
from edge_llm_ros.transport.bus import MessageInfo


class RoiPreprocessNode(ManagedNode):
    """Glue around `propose` and the optional person detector."""

    PARAMETERS = ParameterSchema.of(
        ParameterSpec("cameras", "list[str]", ["camera"]),
        ParameterSpec("merge_iou", "float", 0.3, min=0.0, max=1.0),
        ParameterSpec("nms_iou", "float", 0.5, min=0.0, max=1.0),
        ParameterSpec("margin", "float", 0.1, "Box growth per side, fraction of size", min=0.0, max=1.0),
        ParameterSpec("min_size_px", "float", 12.0, min=1.0),
        ParameterSpec("max_rois", "int", 8, min=1, max=64),
        ParameterSpec("person_detector.enabled", "bool", True),
        ParameterSpec("person_detector.model", "str", "person_detector"),
        ParameterSpec("person_detector.version", "str", "", "Pinned version ('' = newest in the store)"),
        ParameterSpec("person_detector.score_threshold", "float", 0.5, min=0.0, max=1.0),
        ParameterSpec("person_detector.backend", "str", DEFAULT_BACKEND, "Inference backend", choices=tuple(BACKENDS)),
        ParameterSpec("person_detector.execution_providers", "list[str]", ["CPUExecutionProvider"]),
        ParameterSpec("model_store", "str", "", "Model store directory ('' = default)"),
        ParameterSpec("intra_op_threads", "int", 1, min=1, max=64),
        ParameterSpec(
            "proposals", "str", "radar", "ROIs from radar (+ detector), or segmented parts", choices=("radar", "parts")
        ),
        ParameterSpec("parts.belt_roi", "list[int]", [], "Belt region x0, y0, x1, y1 in pixels ([] = whole image)"),
        ParameterSpec("parts.contrast", "float", 40.0, "Part gray level above the belt's", min=1.0, max=255.0),
        ParameterSpec("parts.min_area_px", "int", 600, min=1),
        ParameterSpec("parts.belt_velocity_px_s", "list[float]", [200.0, 0.0], "Belt motion in the image (x, y)"),
        ParameterSpec("parts.max_match_px", "float", 40.0, "Tracking gate", min=1.0),
        ParameterSpec("parts.max_missed_s", "float", 0.5, "Forget a part unseen this long", min=0.01),
    )

    def on_configure(self) -> CallbackReturn:
        p = self.params
        self.config = RoiConfig(p["merge_iou"], p["nms_iou"], p["margin"], p["min_size_px"], p["max_rois"])
        self.detector = None
        if p["person_detector.enabled"]:
            from edge_llm_ros.inference.detector import load_person_detector
            from edge_llm_ros.models.errors import ModelError

            try:
                self.detector = load_person_detector(
                    p["person_detector.model"],
                    p["person_detector.version"] or None,
                    store=p["model_store"] or None,
                    score_threshold=p["person_detector.score_threshold"],
                    providers=p["person_detector.execution_providers"],
                    intra_op_threads=p["intra_op_threads"],
                    backend=p["person_detector.backend"],
                )
            except (ModelError, OSError, ValueError) as exc:
                self.machine.last_error = f"person detector {p['person_detector.model']!r}: {exc}"
                self.log.error("configure failed: %s", self.machine.last_error)
                return CallbackReturn.FAILURE
        self.part_proposers: dict[str, Any] | None = None
        if p["proposals"] == "parts":
            try:
                self._part_configs = _part_configs(p)
            except ValueError as exc:
                self.machine.last_error = f"parts.*: {exc}"
                return CallbackReturn.FAILURE
            self.part_proposers = {}  # one per camera (frame_id): each tracks its own parts
        self.sync = ExactTimeSync(("image", "scene"))
        self.report_counters("sync:", self.sync.counters)
        # A bad image must never take the slot of its instant in the exact-time sync (issue 15).
        self.gate = InputGate()
        for camera in p["cameras"]:
            image_topic, _ = topics.camera_topics(camera)
            self.create_subscription(image_topic, topics.IMAGE, self._on_image_from(image_topic), "sensor_data")
        self.create_subscription(topics.FUSED_SCENE_TOPIC, topics.STRING, self._on_scene, "pipeline")
        self.proposals_pub = self.create_publisher(topics.PROPOSALS_TOPIC, topics.DETECTIONS, "pipeline")
        self.timing_pub = self.create_publisher(topics.TIMING_TOPIC, topics.STRING, "pipeline")
        return CallbackReturn.SUCCESS

    def on_cleanup(self) -> CallbackReturn:
        self.detector = None
        return CallbackReturn.SUCCESS

    def _on_image_from(self, topic: str) -> Any:
        def handle(msg: Any, info: MessageInfo) -> None:
            if admit(self, self.gate, self.resolve(topic), topics.IMAGE, msg, info):
                self._on_image(msg, info)

        return handle

    def _on_image(self, msg: Any, _info: MessageInfo) -> None:
        self._arrived((stamp_to_ns(msg.header.stamp), str(msg.header.frame_id)), "image", msg)

    def _on_scene(self, msg: Any, _info: MessageInfo) -> None:
        try:
            scene = FusedScene.from_json(msg.data)
        except SceneDecodeError as exc:
            self.counters["bad_input:fused_scene"] += 1
            self.log.warning("dropped fused scene: %s", exc)
            return
        self._arrived((scene.stamp_ns, scene.camera), "scene", scene)

    def _arrived(self, key: tuple[int, str], slot: str, value: Any) -> None:
        matched = self.sync.add(slot, key, value)
        if matched is None:
            return
        image_msg, scene = matched
        start = self.span_ns()
        if self.part_proposers is not None:
            proposals = self._part_proposals(image_msg, scene)
            self._publish(scene, proposals, start)
            return
        persons: list[tuple[tuple[float, float, float, float], float]] = []
        if self.detector is not None:
            try:
                image = image_to_rgb(image_msg)
                detect_start = self.span_ns()
                persons = self.detector.detect(image)
                span = timing_record(scene.stamp_ns, scene.camera, "roi.detector", detect_start, self.span_ns())
                self.timing_pub.publish(string_msg(self.codec, span))
            except ImageError as exc:
                self.counters["bad_input:image"] += 1
                self.log.warning("person detector skipped frame: %s", exc)
        rois = propose(scene, persons, self.config)
        proposals = [
            ClassifiedRoi(r.track_id, "person" if "detector" in r.source else "object", r.score, r.bbox) for r in rois
        ]
        self._publish(scene, proposals, start)

    def _publish(self, scene: FusedScene, proposals: list[ClassifiedRoi], start: int) -> None:
        self.proposals_pub.publish(detections_msg(self.codec, scene.stamp_ns, scene.camera, proposals))
        end = self.span_ns()
        self.timing_pub.publish(
            string_msg(self.codec, timing_record(scene.stamp_ns, scene.camera, "roi", start, end, rois=len(proposals)))
        )

    def on_time_reset(self) -> None:
        """Part tracks belong to the old timeline: proposers are rebuilt on the next frame."""
        super().on_time_reset()
        if hasattr(self, "gate"):
            self.gate.reset()
        if getattr(self, "part_proposers", None):
            self.part_proposers = {}

    def _part_proposals(self, image_msg: Any, scene: FusedScene) -> list[ClassifiedRoi]:
        from edge_llm_ros.industrial.proposals import PartProposer

        assert self.part_proposers is not None
        proposer = self.part_proposers.get(scene.camera)
        if proposer is None:
            segmenter, tracker = self._part_configs
            proposer = PartProposer(segmenter, tracker, self.params["margin"], self.params["max_rois"])
            self.part_proposers[scene.camera] = proposer
        try:
            parts = proposer.propose(scene.stamp_ns, image_to_rgb(image_msg))
        except (ImageError, ValueError) as exc:
            # Published empty, so the frame is still decided (with no part inspected).
            self.counters["bad_input:image"] += 1
            self.log.warning("part segmentation skipped frame: %s", exc)
            return []
        return [ClassifiedRoi(str(part.part_id), "part", 1.0, part.crop) for part in parts]

    def stats(self) -> dict[str, int]:
        """Counters of the node and its part proposers, merged."""
        merged = super().stats()
        for proposer in (getattr(self, "part_proposers", None) or {}).values():
            for key, value in proposer.stats().items():
                merged[key] = merged.get(key, 0) + value
        return merged


def _part_configs(p: Any) -> tuple[Any, Any]:
    """Segmenter and tracker configs from the `parts.*` parameters; ValueError names a bad one."""
    from edge_llm_ros.industrial.segmentation import SegmenterConfig
    from edge_llm_ros.industrial.tracking import TrackerConfig

    roi = p["parts.belt_roi"]
    if roi and len(roi) != 4:
        raise ValueError(f"parts.belt_roi needs 4 values (x0, y0, x1, y1), got {roi}")
    velocity = p["parts.belt_velocity_px_s"]
    if len(velocity) != 2:
        raise ValueError(f"parts.belt_velocity_px_s needs 2 values (x, y), got {velocity}")
    segmenter = SegmenterConfig(
        belt_roi=tuple(roi) if roi else None, contrast=p["parts.contrast"], min_area_px=p["parts.min_area_px"]
    )
    tracker = TrackerConfig(
        velocity_px_s=(velocity[0], velocity[1]), max_match_px=p["parts.max_match_px"],
        max_missed_s=p["parts.max_missed_s"],
    )
    return segmenter, tracker
