"""Deterministic traffic drive: camera, camera info, radar tracks, GPS and ground truth.

Topics and timing (stamps relative to the drive start; record time = header stamp, except for the
out-of-order faults):
- /camera/image_raw    sensor_msgs/Image 640x480 rgb8, frame camera_optical_frame, 10 Hz at k * 100 ms
- /camera/camera_info  sensor_msgs/CameraInfo, same stamps (K = [700 0 320; 0 700 240; 0 0 1], D = 0)
- /radar/tracks        radar_msgs/RadarTracks, frame radar_link, 20 Hz at j * 50 ms (so every camera
                       frame has a radar scan with the same stamp); one track per road user in the
                       radar's field of view (0.5..150 m, +-60 deg): uuid, centroid position, velocity
                       and acceleration relative to the ego vehicle, size (extents along x, y, z),
                       classification code (rules.RADAR_CLASSIFICATION), diagonal covariances.
                       Position and velocity carry seeded Gaussian noise (default 5 cm, 5 cm/s).
- /gps/fix             sensor_msgs/NavSatFix, frame gps_link (at the radar), 10 Hz at k * 100 ms + 20 ms;
                       exact positions on a straight road with a seeded heading at a constant
                       seeded speed (8..11 m/s): speed = distance between fixes / 0.1 s.
- /ground_truth/scene  std_msgs/String JSON (ground_truth.py), once per camera frame, same stamp.
Within one stamp the order is radar, camera info, image, ground truth.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_llm_ros.msgs import MessageCodec
from edge_llm_ros.sim import faults as bad
from edge_llm_ros.sim import ground_truth
from edge_llm_ros.sim.calibration import CAMERA_FRAME, GPS_FRAME, RADAR_FRAME, TRAFFIC_CALIBRATION, Calibration
from edge_llm_ros.sim.records import (
    CAMERA_INFO_TOPIC,
    DEFAULT_START_NS,
    GPS_TOPIC,
    GPS_TYPE,
    GROUND_TRUTH_TOPIC,
    IMAGE_TOPIC,
    RADAR_TOPIC,
    RADAR_TYPE,
    SENSOR_TOPICS,
    BagRecord,
    Fault,
    MessageFactory,
    TopicSpec,
)
from edge_llm_ros.sim.rules import WarningLevel, assess, scene_warning
from edge_llm_ros.sim.traffic_render import TrafficRenderer, Visibility
from edge_llm_ros.sim.traffic_scenario import ActorState, Scenario, build_scenario

CAMERA_PERIOD_NS = 100_000_000
RADAR_PERIOD_NS = 50_000_000
GPS_PHASE_NS = 20_000_000
ORIGIN_LAT_DEG = 48.137154
ORIGIN_LON_DEG = 11.576124
ORIGIN_ALT_M = 519.0
_WGS84_A = 6_378_137.0
_WGS84_E2 = 6.694_379_990_14e-3

# (kind, topic, fraction of the drive at which it is injected)
FAULT_PLAN: tuple[tuple[str, str, float], ...] = (
    ("radar_nan", RADAR_TOPIC, 0.15),
    ("radar_inf", RADAR_TOPIC, 0.25),
    ("radar_out_of_order", RADAR_TOPIC, 0.35),
    ("radar_truncated_cdr", RADAR_TOPIC, 0.45),
    ("camera_out_of_order", IMAGE_TOPIC, 0.55),
    ("camera_unknown_encoding", IMAGE_TOPIC, 0.65),
    ("camera_size_mismatch", IMAGE_TOPIC, 0.75),
    ("gps_nan", GPS_TOPIC, 0.85),
)


@dataclass(frozen=True)
class TrafficConfig:
    """Parameters of a traffic drive; the same config always gives the same bag."""

    duration_s: float = 20.0
    seed: int = 0
    faults: bool = False
    start_ns: int = DEFAULT_START_NS
    radar_position_noise_m: float = 0.05
    radar_velocity_noise_mps: float = 0.05
    image_noise_sigma: float = 2.0


def geodetic_offset(north_m: float, east_m: float) -> tuple[float, float]:
    """Latitude/longitude (deg) of a point north/east of the origin (local tangent plane, WGS84 radii)."""
    phi = math.radians(ORIGIN_LAT_DEG)
    w = 1.0 - _WGS84_E2 * math.sin(phi) ** 2
    meridional = _WGS84_A * (1.0 - _WGS84_E2) / w**1.5
    normal = _WGS84_A / math.sqrt(w)
    return (
        ORIGIN_LAT_DEG + math.degrees(north_m / meridional),
        ORIGIN_LON_DEG + math.degrees(east_m / (normal * math.cos(phi))),
    )


class TrafficScene:
    """Yields the records of one traffic drive in time order."""

    name = "traffic"

    def __init__(self, config: TrafficConfig, codec: MessageCodec, calib: Calibration = TRAFFIC_CALIBRATION) -> None:
        """Build the scenario (trajectories) and the renderer; nothing is rendered yet."""
        if config.duration_s <= 0:
            raise ValueError(f"duration must be positive, got {config.duration_s}")
        self.config = config
        self.codec = codec
        self.calib = calib
        self.factory = MessageFactory(codec)
        self.scenario: Scenario = build_scenario(config.seed, config.duration_s)
        self.renderer = TrafficRenderer(calib, config.seed, config.image_noise_sigma)
        self.frame_count = max(1, round(config.duration_s * 1e9 / CAMERA_PERIOD_NS))
        self.faults: list[Fault] = []
        self._radar_rng = np.random.default_rng([config.seed, 2])
        self._track = codec.msg_class("radar_msgs/msg/RadarTrack")
        self._tracks = codec.msg_class(RADAR_TYPE)
        self._uuid = codec.msg_class("unique_identifier_msgs/msg/UUID")
        self._point = codec.msg_class("geometry_msgs/msg/Point")
        self._vector = codec.msg_class("geometry_msgs/msg/Vector3")
        self._fix = codec.msg_class(GPS_TYPE)
        self._fix_status = codec.msg_class("sensor_msgs/msg/NavSatStatus")

    def topics(self) -> list[TopicSpec]:
        """Every topic this scene writes."""
        return [SENSOR_TOPICS[t] for t in (IMAGE_TOPIC, CAMERA_INFO_TOPIC, RADAR_TOPIC, GPS_TOPIC, GROUND_TRUTH_TOPIC)]

    def custom_data(self) -> dict[str, str]:
        """metadata.yaml custom_data: calibration, scenario summary and (faults mode) the fault list."""
        data = {
            "edge_llm_ros/scene": "traffic",
            "edge_llm_ros/seed": str(self.config.seed),
            "edge_llm_ros/ground_truth_schema": ground_truth.SCHEMA_ID,
            "edge_llm_ros/warning_rule": "edge_llm_ros.decision.traffic_rules (TrafficRuleConfig defaults)",
            "edge_llm_ros/calibration": json.dumps(
                {
                    **self.calib.fusion_params(),
                    "camera_frame": CAMERA_FRAME,
                    "radar_frame": RADAR_FRAME,
                    "k": self.calib.camera_info_k(),
                    "T_camera_optical_from_radar": [float(v) for v in self.calib.extrinsic.camera_from_radar.ravel()],
                },
                sort_keys=True,
            ),
            "edge_llm_ros/scenario": json.dumps(
                {
                    "ego_speed_mps": round(self.scenario.ego_speed_mps, 6),
                    "heading_deg": round(self.scenario.heading_deg, 6),
                    "episodes": [{"t_s": t, "kind": kind} for t, kind in self.scenario.episodes],
                },
                sort_keys=True,
            ),
        }
        if self.config.faults:
            data["edge_llm_ros/faults"] = json.dumps([f.as_dict() for f in self.faults], sort_keys=True)
        return data

    def records(self) -> Iterator[BagRecord]:
        """All messages of the drive in record-time order."""
        start = self.config.start_ns
        pending = (
            {kind: round(frac * self.frame_count) for kind, _topic, frac in FAULT_PLAN} if self.config.faults else {}
        )
        last_image: Any = None
        for tick in range(2 * self.frame_count):
            stamp = start + tick * RADAR_PERIOD_NS
            t = tick * RADAR_PERIOD_NS / 1e9
            frame = tick // 2
            states = self.scenario.states(t)
            radar = self._radar(stamp, states)
            yield from self._radar_records(radar, stamp, frame, pending)
            if tick % 2:
                continue
            yield BagRecord(CAMERA_INFO_TOPIC, stamp, self.factory.camera_info(stamp, CAMERA_FRAME, self.calib.camera))
            rgb, visibility, distractors = self.renderer.render(self.scenario, t, frame, states)
            image = self.factory.image(stamp, CAMERA_FRAME, rgb)
            yield from self._image_records(image, last_image, stamp, frame, pending)
            last_image = image
            doc = self._ground_truth(stamp, frame, t, states, visibility, distractors)
            yield BagRecord(GROUND_TRUTH_TOPIC, stamp, self.factory.string(ground_truth.encode(doc)))
            gps_stamp = stamp + GPS_PHASE_NS
            fix = self._gps(gps_stamp, t + GPS_PHASE_NS / 1e9)
            if self._due(pending, "gps_nan", frame):
                fix = bad.gps_nan(fix)
                self._note("gps_nan", GPS_TOPIC, gps_stamp, gps_stamp, True)
            yield BagRecord(GPS_TOPIC, gps_stamp, fix)

    # -- faults ---------------------------------------------------------------------------------

    def _due(self, pending: dict[str, int], kind: str, frame: int, possible: bool = True) -> bool:
        if kind in pending and frame >= pending[kind] and possible:
            del pending[kind]
            return True
        return False

    def _note(self, kind: str, topic: str, record_ns: int, header_ns: int | None, replaces: bool) -> None:
        self.faults.append(Fault(kind, topic, record_ns, header_ns, replaces))

    def _radar_records(self, radar: Any, stamp: int, frame: int, pending: dict[str, int]) -> Iterator[BagRecord]:
        has_tracks = bool(radar.tracks)
        if self._due(pending, "radar_nan", frame, has_tracks):
            radar = bad.radar_nan(radar)
            self._note("radar_nan", RADAR_TOPIC, stamp, stamp, True)
        elif self._due(pending, "radar_inf", frame, has_tracks):
            radar = bad.radar_inf(radar)
            self._note("radar_inf", RADAR_TOPIC, stamp, stamp, True)
        yield BagRecord(RADAR_TOPIC, stamp, radar)
        if self._due(pending, "radar_out_of_order", frame):
            old = stamp - 10 * RADAR_PERIOD_NS
            self._note("radar_out_of_order", RADAR_TOPIC, stamp + 1000, old, False)
            yield BagRecord(RADAR_TOPIC, stamp + 1000, bad.restamp(radar, old, self.factory))
        if self._due(pending, "radar_truncated_cdr", frame):
            self._note("radar_truncated_cdr", RADAR_TOPIC, stamp + 2000, None, False)
            yield BagRecord(RADAR_TOPIC, stamp + 2000, bad.truncate(self.codec.serialize(radar, RADAR_TYPE)))

    def _image_records(
        self, image: Any, last_image: Any, stamp: int, frame: int, pending: dict[str, int]
    ) -> Iterator[BagRecord]:
        if self._due(pending, "camera_unknown_encoding", frame):
            self._note("camera_unknown_encoding", IMAGE_TOPIC, stamp, stamp, True)
            yield BagRecord(IMAGE_TOPIC, stamp, bad.unknown_encoding(image))
        else:
            yield BagRecord(IMAGE_TOPIC, stamp, image)
        if self._due(pending, "camera_out_of_order", frame, last_image is not None):
            old = stamp - 3 * CAMERA_PERIOD_NS
            self._note("camera_out_of_order", IMAGE_TOPIC, stamp + 1000, old, False)
            yield BagRecord(IMAGE_TOPIC, stamp + 1000, bad.restamp(last_image, old, self.factory))
        if self._due(pending, "camera_size_mismatch", frame):
            self._note("camera_size_mismatch", IMAGE_TOPIC, stamp + 2000, stamp, False)
            yield BagRecord(IMAGE_TOPIC, stamp + 2000, bad.size_mismatch(image))

    # -- sensors --------------------------------------------------------------------------------

    def _radar(self, stamp: int, states: list[ActorState]) -> Any:
        cfg = self.config
        pos_var = np.float32(max(cfg.radar_position_noise_m, 0.01) ** 2)
        vel_var = np.float32(max(cfg.radar_velocity_noise_mps, 0.01) ** 2)
        tracks = []
        for st in states:
            # Draw both noise vectors even at zero sigma so the stream does not depend on the settings.
            pn = self._radar_rng.normal(0.0, 1.0, 3) * cfg.radar_position_noise_m
            vn = self._radar_rng.normal(0.0, 1.0, 3) * cfg.radar_velocity_noise_mps
            px, py, pz = (float(a + b) for a, b in zip(st.position, pn, strict=True))
            vx, vy, vz = (float(a + b) for a, b in zip(st.velocity, vn, strict=True))
            sx, sy, sz = st.actor.size
            tracks.append(
                self._track(
                    uuid=self._uuid(uuid=np.frombuffer(st.actor.uuid, np.uint8).copy()),
                    position=self._point(x=px, y=py, z=pz),
                    velocity=self._vector(x=vx, y=vy, z=vz),
                    acceleration=self._vector(x=st.acceleration[0], y=st.acceleration[1], z=st.acceleration[2]),
                    size=self._vector(x=sx, y=sy, z=sz),
                    classification=st.actor.cls.radar_code,
                    position_covariance=np.array([pos_var, 0, 0, pos_var, 0, pos_var], np.float32),
                    velocity_covariance=np.array([vel_var, 0, 0, vel_var, 0, vel_var], np.float32),
                    acceleration_covariance=np.array([0.25, 0, 0, 0.25, 0, 0.25], np.float32),
                    size_covariance=np.array([0.04, 0, 0, 0.04, 0, 0.04], np.float32),
                )
            )
        return self._tracks(header=self.factory.header(stamp, RADAR_FRAME), tracks=tracks)

    def _ego(self, t: float) -> dict[str, float]:
        s = self.scenario.ego_s(t)
        heading = math.radians(self.scenario.heading_deg)
        lat, lon = geodetic_offset(s * math.cos(heading), s * math.sin(heading))
        return {
            "lat": lat,
            "lon": lon,
            "alt": ORIGIN_ALT_M,
            "speed_mps": self.scenario.ego_speed_mps,
            "heading_deg": self.scenario.heading_deg,
        }

    def _gps(self, stamp: int, t: float) -> Any:
        ego = self._ego(t)
        status = self._fix_status(status=self._fix_status.STATUS_FIX, service=self._fix_status.SERVICE_GPS)
        return self._fix(
            header=self.factory.header(stamp, GPS_FRAME),
            status=status,
            latitude=ego["lat"],
            longitude=ego["lon"],
            altitude=ego["alt"],
            position_covariance=np.array([0.25, 0, 0, 0, 0.25, 0, 0, 0, 1.0]),
            position_covariance_type=self._fix.COVARIANCE_TYPE_DIAGONAL_KNOWN,
        )

    # -- ground truth ---------------------------------------------------------------------------

    def _ground_truth(
        self,
        stamp: int,
        frame: int,
        t: float,
        states: list[ActorState],
        visibility: dict[int, Visibility],
        distractors: list[Any],
    ) -> dict[str, Any]:
        objects = []
        levels: list[WarningLevel] = []
        warned: list[str] = []
        for st in states:
            x, y, _z = st.position
            verdict = assess(st.actor.cls, x, y, st.velocity[0], st.velocity[1])
            vis = visibility.get(st.actor.actor_id, Visibility(None, 0.0))
            levels.append(verdict.level)
            if verdict.level > WarningLevel.NONE:
                warned.append(st.actor.track_id)
            objects.append(
                {
                    "track_id": st.actor.track_id,
                    "class": st.actor.cls.value,
                    "radar_classification": st.actor.cls.radar_code,
                    "position_m": [round(v, 4) for v in st.position],
                    "velocity_mps": [round(v, 4) for v in st.velocity],
                    "size_m": list(st.actor.size),
                    "range_m": round(verdict.range_m, 4),
                    "range_rate_mps": round(verdict.range_rate_mps, 4),
                    "ttc_s": None if verdict.ttc_s is None else round(verdict.ttc_s, 4),
                    "in_ego_lane": verdict.in_ego_lane,
                    "warning": verdict.level.name,
                    "bbox_xyxy": None if vis.bbox_xyxy is None else [round(v, 2) for v in vis.bbox_xyxy],
                    "visible_fraction": round(vis.visible_fraction, 4),
                }
            )
        ego = self._ego(t)
        return {
            "schema": ground_truth.SCHEMA_ID,
            "scene": "traffic",
            "stamp_ns": stamp,
            "frame_index": frame,
            "seed": self.config.seed,
            "ego": {k: round(v, 9) for k, v in ego.items()},
            "objects": objects,
            "distractors": [
                {"kind": d.kind, "image": d.image, "bbox_xyxy": [round(v, 2) for v in d.bbox_xyxy]} for d in distractors
            ],
            "warning": scene_warning(levels).name,
            "warning_track_ids": warned,
        }
