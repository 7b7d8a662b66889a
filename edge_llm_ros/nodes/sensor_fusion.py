"""sensor_fusion node: camera(s) + radar + GPS -> /edge_llm/fused_scene."""

from __future__ import annotations

from typing import Any

from edge_llm_ros.fusion.collector import FusionConfig, SensorFusion
from edge_llm_ros.fusion.geometry import RadarToCamera
from edge_llm_ros.fusion.input_gate import InputGate
from edge_llm_ros.nodes import topics
from edge_llm_ros.nodes.admission import admit
from edge_llm_ros.nodes.convert import radar_tracks, string_msg, timing_record
from edge_llm_ros.runtime.clock import stamp_to_ns
from edge_llm_ros.runtime.lifecycle import CallbackReturn
from edge_llm_ros.runtime.managed_node import ManagedNode
from edge_llm_ros.runtime.params import ParameterSchema, ParameterSpec
from edge_llm_ros.transport.bus import MessageInfo


class SensorFusionNode(ManagedNode):
    """Thin glue around `SensorFusion`; one engine per camera shares the radar and GPS streams."""

    PARAMETERS = ParameterSchema.of(
        ParameterSpec("cameras", "list[str]", ["camera"], "Camera names; topics /<name>/image_raw, camera_info"),
        ParameterSpec("radar_topic", "str", "/radar/tracks", "'' = this scene has no radar"),
        ParameterSpec("gps_topic", "str", "/gps/fix", "'' = this scene has no GPS"),
        ParameterSpec("radar_window_s", "float", 0.06, "Max |radar - frame| stamp gap", min=0.0, max=1.0),
        ParameterSpec("radar_offset_s", "float", 0.0, "Added to radar stamps", min=-1.0, max=1.0),
        ParameterSpec(
            "radar_wait_s",
            "float",
            0.03,
            "Hold a frame this long for its camera_info and a radar scan at/after it",
            min=0.0,
            max=1.0,
        ),
        ParameterSpec("gps_timeout_s", "float", 0.5, "Oldest usable GPS fix", min=0.0, max=10.0),
        ParameterSpec("gps_offset_s", "float", 0.0, min=-1.0, max=1.0),
        ParameterSpec("max_frame_age_s", "float", 0.5, "Frames older than this vs the clock are stale", min=0.0),
        ParameterSpec("lane_half_width_m", "float", 1.8, min=0.5, max=10.0),
        ParameterSpec("max_range_m", "float", 150.0, min=1.0, max=1000.0),
        ParameterSpec("radar_to_camera.translation", "list[float]", [0.0, 0.0, 0.0], "Radar in camera_link (m)"),
        ParameterSpec("radar_to_camera.rpy", "list[float]", [0.0, 0.0, 0.0], "Radar orientation (rad)"),
        ParameterSpec("check_frame_age", "bool", False, "Drop frames older than max_frame_age_s (live only)"),
    )

    def on_configure(self) -> CallbackReturn:
        p = self.params
        if len(p["radar_to_camera.translation"]) != 3 or len(p["radar_to_camera.rpy"]) != 3:
            self.machine.last_error = "radar_to_camera.translation and .rpy need 3 values each"
            return CallbackReturn.FAILURE
        self.engines: dict[str, SensorFusion] = {}
        # Every sensor sample is checked before it touches fusion state (issue 15).
        self.gate = InputGate()
        for camera in p["cameras"]:
            config = FusionConfig(
                radar_window_s=p["radar_window_s"],
                radar_offset_s=p["radar_offset_s"],
                gps_timeout_s=p["gps_timeout_s"],
                gps_offset_s=p["gps_offset_s"],
                max_frame_age_s=p["max_frame_age_s"],
                lane_half_width_m=p["lane_half_width_m"],
                max_range_m=p["max_range_m"],
                extrinsic=RadarToCamera(tuple(p["radar_to_camera.translation"]), tuple(p["radar_to_camera.rpy"])),
                camera_name=camera,
                expect_radar=bool(p["radar_topic"]),
                expect_gps=bool(p["gps_topic"]),
            )
            self.engines[camera] = SensorFusion(config)
            image_topic, info_topic = topics.camera_topics(camera)
            self.create_subscription(image_topic, topics.IMAGE, self._on_image(camera, image_topic), "sensor_data")
            self.create_subscription(info_topic, topics.CAMERA_INFO, self._on_info(camera, info_topic), "sensor_data")
        if p["radar_topic"]:
            self.create_subscription(p["radar_topic"], topics.RADAR_TRACKS, self._on_radar, "sensor_data")
        self._held: list[tuple[str, Any, int]] = []  # (camera, image msg, arrival ns), oldest first
        if p["radar_wait_s"] > 0:
            self.create_timer(max(0.002, p["radar_wait_s"] / 3), self._flush_held)
        if p["gps_topic"]:
            self.create_subscription(p["gps_topic"], topics.NAV_SAT_FIX, self._on_gps, "sensor_data")
        self.scene_pub = self.create_publisher(topics.FUSED_SCENE_TOPIC, topics.STRING, "pipeline")
        self.timing_pub = self.create_publisher(topics.TIMING_TOPIC, topics.STRING, "pipeline")
        return CallbackReturn.SUCCESS

    def _on_info(self, camera: str, topic: str) -> Any:
        def handle(msg: Any, info: MessageInfo) -> None:
            if not admit(self, self.gate, self.resolve(topic), topics.CAMERA_INFO, msg, info):
                return
            if not self.engines[camera].set_camera_info(msg.k, int(msg.width), int(msg.height)):
                self.counters["rejected:camera_info"] += 1
            self._release_held(force_older_than=None)

        return handle

    def on_time_reset(self) -> None:
        """Held frames and every engine's radar/GPS history belong to the old timeline."""
        super().on_time_reset()
        getattr(self, "_held", []).clear()
        if hasattr(self, "gate"):
            self.gate.reset()
        for engine in getattr(self, "engines", {}).values():
            engine.reset()

    def _on_radar(self, msg: Any, info: MessageInfo) -> None:
        if not admit(self, self.gate, self.resolve(self.params["radar_topic"]), topics.RADAR_TRACKS, msg, info):
            return
        stamp, tracks = radar_tracks(msg)
        for engine in self.engines.values():
            engine.add_radar(stamp, tracks)
        self._release_held(force_older_than=None)

    def _flush_held(self) -> None:
        if self.is_active and self._held:
            self._release_held(force_older_than=self.now_ns() - int(self.params["radar_wait_s"] * 1e9))

    def _release_held(self, force_older_than: int | None) -> None:
        # Frames leave in arrival order: a frame still waiting for radar holds the ones behind it.
        while self._held:
            camera, msg, arrived = self._held[0]
            stamp = stamp_to_ns(msg.header.stamp)
            timed_out = force_older_than is not None and arrived <= force_older_than
            if not self.engines[camera].ready_for(stamp) and not timed_out:
                return
            self._held.pop(0)
            self._fuse(camera, msg)

    def _on_gps(self, msg: Any, info: MessageInfo) -> None:
        if not admit(self, self.gate, self.resolve(self.params["gps_topic"]), topics.NAV_SAT_FIX, msg, info):
            return
        for engine in self.engines.values():
            engine.add_gps(
                stamp_to_ns(msg.header.stamp), msg.latitude, msg.longitude, msg.altitude, int(msg.status.status)
            )

    def _on_image(self, camera: str, topic: str) -> Any:
        engine = self.engines[camera]

        def handle(msg: Any, info: MessageInfo) -> None:
            if not admit(self, self.gate, self.resolve(topic), topics.IMAGE, msg, info):
                return
            waiting = self._held or not engine.ready_for(stamp_to_ns(msg.header.stamp))
            if self.params["radar_wait_s"] > 0 and waiting:
                self._held.append((camera, msg, self.now_ns()))
                if len(self._held) > 8:  # radar far behind: never let frames pile up
                    self._release_held(force_older_than=self.now_ns())
                return
            self._fuse(camera, msg)

        return handle

    def _fuse(self, camera: str, msg: Any) -> None:
        start = self.span_ns()
        stamp = stamp_to_ns(msg.header.stamp)
        now = self.now_ns() if self.params["check_frame_age"] else None
        scene = self.engines[camera].fuse(
            stamp, int(msg.width), int(msg.height), str(msg.encoding), now, msg.header.frame_id
        )
        if scene is None:
            return
        end = self.span_ns()
        scene.timing["fusion"] = (start, end)
        self.scene_pub.publish(string_msg(self.codec, scene.to_json()))
        self.timing_pub.publish(string_msg(self.codec, timing_record(stamp, scene.camera, "fusion", start, end)))

    def stats(self) -> dict[str, int]:
        """Counters of the node and its engines, merged."""
        merged = super().stats()
        for engine in getattr(self, "engines", {}).values():
            for key, value in engine.counters.items():
                merged[key] = merged.get(key, 0) + value
        return merged
