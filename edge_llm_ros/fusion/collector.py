"""Collector-style time sync of camera, radar and GPS (after Autoware's pointcloud collector).

Each camera frame is the anchor. It is fused with the radar scan nearest in time within a window
(after a per-sensor offset) and the newest GPS fix not older than a timeout; a sensor with
nothing in its window is listed as missing and the frame is still published, so a dead radar
degrades the scene instead of stalling the pipeline (the reason Autoware replaced
ApproximateTime). Out-of-order and stale stamps are dropped and counted.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from edge_llm_ros.fusion.geometry import PinholeCamera, RadarToCamera, box_from_extent
from edge_llm_ros.fusion.gps import GpsTrack
from edge_llm_ros.fusion.scene import EgoState, FusedScene, RadarObject, finite

SUPPORTED_ENCODINGS = frozenset({"rgb8", "bgr8"})


@dataclass(frozen=True)
class RadarTrackInput:
    """One radar_msgs/RadarTrack as plain values (radar_link frame)."""

    track_id: str
    classification: int
    position: tuple[float, float, float]
    velocity: tuple[float, float, float]
    size: tuple[float, float, float]


@dataclass(frozen=True)
class FusionConfig:
    """Sync windows (s), offsets (s, added to a sensor's stamp), geometry and lane model."""

    radar_window_s: float = 0.06
    radar_offset_s: float = 0.0
    gps_timeout_s: float = 0.5
    gps_offset_s: float = 0.0
    max_frame_age_s: float = 0.5
    lane_half_width_m: float = 1.8
    min_closing_speed_mps: float = 0.1
    max_range_m: float = 150.0
    extrinsic: RadarToCamera = field(default_factory=RadarToCamera)
    camera_name: str = "camera"
    #: A scene without radar or GPS (a conveyor camera) neither waits for nor misses them.
    expect_radar: bool = True
    expect_gps: bool = True


@dataclass
class _RadarScan:
    stamp_ns: int
    tracks: list[RadarTrackInput]


class SensorFusion:
    """Plain-Python fusion engine; the sensor_fusion node feeds it decoded messages."""

    def __init__(self, config: FusionConfig) -> None:
        self.config = config
        self.counters: Counter[str] = Counter()
        self._camera: PinholeCamera | None = None
        self._radar: deque[_RadarScan] = deque(maxlen=16)
        self._gps = GpsTrack()
        self._last_stamp: dict[str, int] = {}

    def reset(self) -> None:
        """Forget radar, GPS and stamp order (sensor time restarted); intrinsics are kept."""
        self._radar.clear()
        self._gps = GpsTrack()
        self._last_stamp.clear()

    # ----------------------------------------------------------- inputs
    def _in_order(self, sensor: str, stamp_ns: int) -> bool:
        last = self._last_stamp.get(sensor)
        if last is not None and stamp_ns <= last:
            self.counters[f"dropped_out_of_order:{sensor}"] += 1
            return False
        self._last_stamp[sensor] = stamp_ns
        return True

    def set_camera_info(self, k: list[float] | np.ndarray, width: int, height: int) -> bool:
        """Accept CameraInfo intrinsics; invalid ones are rejected and counted."""
        try:
            self._camera = PinholeCamera.from_k(k, width, height)
        except ValueError:
            self.counters["rejected:camera_info"] += 1
            return False
        return True

    def add_radar(self, stamp_ns: int, tracks: list[RadarTrackInput]) -> bool:
        """Buffer a radar scan; tracks with non-finite fields are dropped and counted."""
        if not self._in_order("radar", stamp_ns):
            return False
        good = []
        for track in tracks:
            if finite(*track.position, *track.velocity, *track.size):
                good.append(track)
            else:
                self.counters["rejected:radar_track_nonfinite"] += 1
        if not tracks:
            self.counters["radar_empty_scans"] += 1
        self._radar.append(_RadarScan(stamp_ns, good))
        return True

    def add_gps(self, stamp_ns: int, latitude: float, longitude: float, altitude: float, status: int) -> bool:
        """Buffer a GPS fix; no-fix (status < 0) and non-finite positions are rejected and counted."""
        if status < 0 or not finite(latitude, longitude) or abs(latitude) > 90 or abs(longitude) > 180:
            self.counters["rejected:gps"] += 1
            return False
        if not self._in_order("gps", stamp_ns):
            return False
        self._gps.add(stamp_ns, latitude, longitude, altitude if math.isfinite(altitude) else 0.0, status)
        return True

    # ----------------------------------------------------------- fusion
    def radar_covers(self, stamp_ns: int) -> bool:
        """Whether a radar scan at or after the frame (offset applied) has arrived.

        Until one has, a later scan may still be nearer to the frame than what is buffered, so
        the node holds the frame (for at most its radar wait) instead of fusing early. That
        makes the result independent of the order in which the two arrive.
        """
        offset = self.config.radar_offset_s * 1e9
        return bool(self._radar) and self._radar[-1].stamp_ns + offset >= stamp_ns

    def ready_for(self, stamp_ns: int) -> bool:
        """Intrinsics known and the frame's radar instant covered: fusing now loses nothing."""
        return self._camera is not None and (not self.config.expect_radar or self.radar_covers(stamp_ns))

    def fuse(
        self,
        stamp_ns: int,
        width: int,
        height: int,
        encoding: str,
        now_ns: int | None = None,
        frame_id: str = "",
    ) -> FusedScene | None:
        """Fuse a camera frame with what arrived in its windows; None when the frame is rejected.

        The scene is keyed by the image's frame_id (unique per camera), which every later stage
        also sees in its message headers; the configured camera name stands in when it is empty.
        """
        if encoding not in SUPPORTED_ENCODINGS:
            self.counters[f"rejected:encoding:{encoding or 'empty'}"] += 1
            return None
        if self._camera is None:
            self.counters["rejected:no_camera_info"] += 1
            return None
        if (width, height) != (self._camera.width, self._camera.height):
            self.counters["rejected:size_mismatch"] += 1
            return None
        if now_ns is not None and now_ns - stamp_ns > self.config.max_frame_age_s * 1e9:
            self.counters["dropped_stale:camera"] += 1
            return None
        if not self._in_order("camera", stamp_ns):
            return None
        scene = FusedScene(stamp_ns, frame_id or self.config.camera_name, width, height)
        scan = self._nearest_radar(stamp_ns)
        if scan is None and self.config.expect_radar:
            scene.missing.append("radar")
            self.counters["missing:radar"] += 1
        elif scan is not None:
            scene.radar_stamp_ns = scan.stamp_ns
            scene.objects = [obj for t in scan.tracks if (obj := self._attribute(t)) is not None]
        ego = self._ego(stamp_ns)
        if ego is None and self.config.expect_gps:
            scene.missing.append("gps")
            self.counters["missing:gps"] += 1
        scene.ego = ego
        self.counters["fused"] += 1
        return scene

    def _nearest_radar(self, stamp_ns: int) -> _RadarScan | None:
        window = self.config.radar_window_s * 1e9
        offset = self.config.radar_offset_s * 1e9
        best = min(self._radar, key=lambda s: abs(s.stamp_ns + offset - stamp_ns), default=None)
        if best is None or abs(best.stamp_ns + offset - stamp_ns) > window:
            return None
        return best

    def _ego(self, stamp_ns: int) -> EgoState | None:
        fix = self._gps.latest()
        if fix is None:
            return None
        age = stamp_ns - (fix.stamp_ns + self.config.gps_offset_s * 1e9)
        if age > self.config.gps_timeout_s * 1e9 or age < -self.config.gps_timeout_s * 1e9:
            return None
        speed, heading = self._gps.velocity()
        return EgoState(fix.stamp_ns, fix.latitude, fix.longitude, fix.altitude, speed, heading, fix.status)

    def _attribute(self, track: RadarTrackInput) -> RadarObject | None:
        assert self._camera is not None
        p = np.asarray(track.position, dtype=np.float64)
        v = np.asarray(track.velocity, dtype=np.float64)
        rng = float(np.linalg.norm(p[:2]))
        if rng < 0.1 or rng > self.config.max_range_m or p[0] <= 0:
            self.counters["radar_out_of_view"] += 1
            return None
        range_rate = float(np.dot(p[:2], v[:2]) / rng)
        closing = -range_rate
        ttc = rng / closing if closing > self.config.min_closing_speed_mps else None
        bbox = box_from_extent(self._camera, self.config.extrinsic, p, np.asarray(track.size, dtype=np.float64))
        lateral = float(p[1])
        return RadarObject(
            track_id=track.track_id,
            classification=int(track.classification),
            position=(float(p[0]), float(p[1]), float(p[2])),
            velocity=(float(v[0]), float(v[1]), float(v[2])),
            size=tuple(float(s) for s in track.size),  # type: ignore[arg-type]
            range_m=rng,
            range_rate_mps=range_rate,
            ttc_s=ttc,
            lateral_m=lateral,
            in_ego_lane=abs(lateral) <= self.config.lane_half_width_m,
            bbox=bbox,
        )
