"""roi_preprocess node: image + fused scene -> ROI proposals (radar boxes merged with person detections).

Crops are not shipped between processes: the proposals (a vision_msgs/Detection2DArray of boxes
and track ids) are small, and the inference node letterboxes each box straight from the image
it already receives into its preallocated batch tensor.
"""

from __future__ import annotations

from typing import Any

from edge_llm_ros.decision.classified import ClassifiedRoi
from edge_llm_ros.fusion.scene import FusedScene, SceneDecodeError
from edge_llm_ros.nodes import topics
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
        ParameterSpec("model_store", "str", "", "Model store directory ('' = default)"),
        ParameterSpec("intra_op_threads", "int", 1, min=1, max=64),
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
                    intra_op_threads=p["intra_op_threads"],
                )
            except (ModelError, OSError, ValueError) as exc:
                self.machine.last_error = f"person detector {p['person_detector.model']!r}: {exc}"
                self.log.error("configure failed: %s", self.machine.last_error)
                return CallbackReturn.FAILURE
        self.sync = ExactTimeSync(("image", "scene"))
        for camera in p["cameras"]:
            image_topic, _ = topics.camera_topics(camera)
            self.create_subscription(image_topic, topics.IMAGE, self._on_image, "sensor_data")
        self.create_subscription(topics.FUSED_SCENE_TOPIC, topics.STRING, self._on_scene, "pipeline")
        self.proposals_pub = self.create_publisher(topics.PROPOSALS_TOPIC, topics.DETECTIONS, "pipeline")
        self.timing_pub = self.create_publisher(topics.TIMING_TOPIC, topics.STRING, "pipeline")
        return CallbackReturn.SUCCESS

    def on_cleanup(self) -> CallbackReturn:
        self.detector = None
        return CallbackReturn.SUCCESS

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
        start = self.now_ns()
        persons: list[tuple[tuple[float, float, float, float], float]] = []
        if self.detector is not None:
            try:
                image = image_to_rgb(image_msg)
                detect_start = self.now_ns()
                persons = self.detector.detect(image)
                span = timing_record(scene.stamp_ns, scene.camera, "roi.detector", detect_start, self.now_ns())
                self.timing_pub.publish(string_msg(self.codec, span))
            except ImageError as exc:
                self.counters["bad_input:image"] += 1
                self.log.warning("person detector skipped frame: %s", exc)
        rois = propose(scene, persons, self.config)
        proposals = [
            ClassifiedRoi(r.track_id, "person" if "detector" in r.source else "object", r.score, r.bbox) for r in rois
        ]
        self.proposals_pub.publish(detections_msg(self.codec, scene.stamp_ns, scene.camera, proposals))
        end = self.now_ns()
        self.timing_pub.publish(
            string_msg(self.codec, timing_record(scene.stamp_ns, scene.camera, "roi", start, end, rois=len(rois)))
        )


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    from edge_llm_ros.nodes.host import run_node

    return run_node(RoiPreprocessNode, "roi_preprocess", argv)
