"""decision node: fused scene + detections -> /edge_llm/decision (fast path, deterministic)."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from edge_llm_ros.decision.advisory_request import build_request
from edge_llm_ros.decision.classified import ClassifiedRoi
from edge_llm_ros.decision.record import DecisionRecord
from edge_llm_ros.fusion.scene import FusedScene, SceneDecodeError
from edge_llm_ros.nodes import topics
from edge_llm_ros.nodes.convert import detections_from_msg, string_msg
from edge_llm_ros.runtime.lifecycle import CallbackReturn
from edge_llm_ros.runtime.managed_node import ManagedNode
from edge_llm_ros.runtime.params import ParameterSchema, ParameterSpec
from edge_llm_ros.runtime.sync import ExactTimeSync
from edge_llm_ros.scenes import get_scene, scene_names
from edge_llm_ros.scenes.base import Decider
from edge_llm_ros.transport.bus import MessageInfo


class DecisionNode(ManagedNode):
    """Pairs each fused scene with its detections (same stamp and camera) and decides."""

    PARAMETERS = ParameterSchema.of(
        ParameterSpec("scene", "str", "traffic", choices=scene_names()),
        ParameterSpec("brake_ttc_s", "float", 1.6, min=0.1, max=20.0),
        ParameterSpec("caution_ttc_s", "float", 3.5, min=0.1, max=30.0),
        ParameterSpec("vulnerable_ttc_factor", "float", 1.5, min=1.0, max=5.0),
        ParameterSpec("vulnerable_range_m", "float", 12.0, min=0.0, max=200.0),
        ParameterSpec("min_class_score", "float", 0.0, min=0.0, max=1.0),
        ParameterSpec("detection_timeout_s", "float", 0.08, "Decide radar-only after this wait", min=0.0, max=5.0),
        ParameterSpec("max_pending_frames", "int", 32, min=2, max=1024),
        ParameterSpec("llm.enabled", "bool", False, "Ask the LLM node for advisories (never waited for)"),
        ParameterSpec("llm.rate_hz", "float", 1.0, "Advisory requests per second of sensor time", min=0.01, max=30.0),
        ParameterSpec("llm.max_objects", "int", 8, min=1, max=32),
        ParameterSpec("radar_class_codes", "list[int]", [], "RadarTrack.classification vendor codes..."),
        ParameterSpec("radar_class_names", "list[str]", [], "...and the class each code means"),
        ParameterSpec("industrial.min_defect_score", "float", 0.5, "Defect probability that rejects a part",
                      min=0.01, max=1.0),
        ParameterSpec("industrial.memory", "int", 0, "Average a part's last N observations (0 = this frame)",
                      min=0, max=1000),
    )

    def on_configure(self) -> CallbackReturn:
        p = self.params
        try:
            self.decider: Decider = get_scene(p["scene"]).make_decider(p)
        except ValueError as exc:
            self.machine.last_error = str(exc)
            return CallbackReturn.FAILURE
        self.sync = ExactTimeSync(("scene", "detections"), p["max_pending_frames"])
        self.report_counters("sync:", self.sync.counters)
        self.stage_timing: dict[tuple[int, str], dict[str, tuple[int, int]]] = defaultdict(dict)
        self.create_subscription(topics.FUSED_SCENE_TOPIC, topics.STRING, self._on_scene, "pipeline")
        self.create_subscription(topics.DETECTIONS_TOPIC, topics.DETECTIONS, self._on_detections, "pipeline")
        self.create_subscription(topics.TIMING_TOPIC, topics.STRING, self._on_timing, "pipeline")
        self.decision_pub = self.create_publisher(topics.DECISION_TOPIC, topics.STRING, "decision")
        if p["detection_timeout_s"] > 0:
            self.create_timer(max(0.005, p["detection_timeout_s"] / 4), self._expire)
        self.decided = 0
        self.llm_pub = (
            self.create_publisher(topics.LLM_REQUEST_TOPIC, topics.STRING, "pipeline") if p["llm.enabled"] else None
        )
        self._last_request_stamp: int | None = None
        return CallbackReturn.SUCCESS

    def _on_scene(self, msg: Any, _info: MessageInfo) -> None:
        try:
            scene = FusedScene.from_json(msg.data)
        except SceneDecodeError as exc:
            self.counters["bad_input:fused_scene"] += 1
            self.log.warning("dropped fused scene: %s", exc)
            return
        self._arrived((scene.stamp_ns, scene.camera), "scene", (scene, self.now_ns()))

    def _on_detections(self, msg: Any, _info: MessageInfo) -> None:
        stamp, camera, rois = detections_from_msg(msg)
        self._arrived((stamp, camera), "detections", rois)

    def _on_timing(self, msg: Any, _info: MessageInfo) -> None:
        try:
            record = json.loads(msg.data)
            key = (int(record["stamp_ns"]), str(record["camera"]))
            self.stage_timing[key][str(record["stage"])] = (int(record["start_ns"]), int(record["end_ns"]))
        except (ValueError, KeyError, TypeError):
            self.counters["bad_input:stage_timing"] += 1
        while len(self.stage_timing) > 4 * self.params["max_pending_frames"]:
            self.stage_timing.pop(next(iter(self.stage_timing)))

    def _arrived(self, key: tuple[int, str], slot: str, value: Any) -> None:
        matched = self.sync.add(slot, key, value)
        if matched is not None:
            (scene, _arrived_ns), rois = matched
            self._decide(scene, rois)

    def _expire(self) -> None:
        if not self.is_active:
            return
        limit = self.now_ns() - int(self.params["detection_timeout_s"] * 1e9)
        # A scene whose detections are late (vision dropped the frame past its deadline) is still
        # decided, from radar alone, so the fast path never waits on the vision stage for long.
        for _key, entry in self.sync.pop_where(lambda e: "scene" in e and e["scene"][1] <= limit):
            self.counters["decided_without_detections"] += 1
            self._decide(entry["scene"][0], [])

    def _decide(self, scene: FusedScene, rois: list[ClassifiedRoi]) -> None:
        start = self.span_ns()
        record: DecisionRecord = self.decider.decide(scene, rois)
        record.timing.update(self.stage_timing.pop((scene.stamp_ns, scene.camera), {}))
        record.decided_ns = self.now_ns()
        record.timing["decision"] = (start, self.span_ns())
        self.decision_pub.publish(string_msg(self.codec, record.to_json()))
        self.decided += 1
        if self.llm_pub is not None:
            self._maybe_ask_llm(record, scene)

    def on_time_reset(self) -> None:
        """The LLM rate limit counts sensor time: restart it with the new timeline."""
        super().on_time_reset()
        self._last_request_stamp = None

    def _maybe_ask_llm(self, record: DecisionRecord, scene: FusedScene) -> None:
        # Rate-limited on sensor stamps, not wall time, so a replay asks for the same frames
        # whatever its speed. Published after the decision: the fast path never waits on it.
        period_ns = int(1e9 / self.params["llm.rate_hz"])
        if self._last_request_stamp is not None and record.stamp_ns - self._last_request_stamp < period_ns:
            return
        self._last_request_stamp = record.stamp_ns
        assert self.llm_pub is not None
        self.llm_pub.publish(string_msg(self.codec, build_request(record, scene, self.params["llm.max_objects"])))
        self.counters["llm_requests"] += 1
