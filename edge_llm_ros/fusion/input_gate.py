"""Admission checks for sensor inputs: a malformed or implausible sample is rejected with a reason.

Decoding a CDR payload only proves it has the shape of the type. A sample that decodes can still
describe nothing real (NaN, negative sizes, a step that does not match the data), belong to
another sensor (a wrong frame id, a second publisher), or carry a stamp that would poison the
stream's order: one sample stamped an hour ahead makes every later valid sample look out of
order, which is how ~1,800 garbage samples turned BRAKE recall to 0 (issue 15). So every sensor
sample passes `InputGate.admit` before it touches fusion state, and the stream's stamp, frame id,
source and intrinsics are only ever set by samples that passed every check.

Plain Python on decoded messages (rosbags dataclasses, read by attribute); no transport.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

SUPPORTED_ENCODINGS = frozenset({"rgb8", "bgr8"})
IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
RADAR_TRACKS = "radar_msgs/msg/RadarTracks"
NAV_SAT_FIX = "sensor_msgs/msg/NavSatFix"


@dataclass(frozen=True)
class GateLimits:
    """What a plausible sample looks like; beyond these it is rejected."""

    max_image_side: int = 8192
    max_image_bytes: int = 64 * 1024 * 1024
    #: A stamp more than this ahead of the stream's last accepted one is a jump (s).
    max_jump_s: float = 1.0
    #: A jump is believed (the sensor's time really moved) after this many consistent samples.
    jump_confirmations: int = 3
    #: A new publisher replaces the topic's source only after the old one fell silent this long (s).
    source_silence_s: float = 1.0
    #: Radar geometry: range, object size and speed a real target can have.
    max_radar_range_m: float = 1000.0
    max_radar_size_m: float = 100.0
    max_radar_speed_mps: float = 150.0
    max_radar_tracks: int = 1024


@dataclass
class _Stream:
    frame_id: str | None = None
    source: bytes | None = None
    last_stamp_ns: int | None = None
    candidate_ns: int | None = None
    candidate_count: int = 0
    intrinsics: tuple[float, ...] | None = None
    rival: bytes | None = None
    rival_count: int = 0
    source_seen_ns: int = 0


def _stamp_ns(msg: Any) -> int:
    stamp = msg.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def check_image(msg: Any, limits: GateLimits) -> str | None:
    """Reason an Image cannot be used, or None."""
    if msg.encoding not in SUPPORTED_ENCODINGS:
        return "encoding"
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0 or h > limits.max_image_side or w > limits.max_image_side:
        return "size"
    size = len(msg.data)
    if size == 0:
        return "empty"
    if step < 3 * w or size != h * step or size > limits.max_image_bytes:
        return "step_size_mismatch"
    return None


def _intrinsics(msg: Any) -> tuple[float, ...]:
    return (float(msg.width), float(msg.height), *(float(v) for v in msg.k))


def check_camera_info(msg: Any, limits: GateLimits) -> str | None:
    """Reason a CameraInfo cannot be used, or None."""
    w, h = int(msg.width), int(msg.height)
    if w <= 0 or h <= 0 or w > limits.max_image_side or h > limits.max_image_side:
        return "size"
    k = [float(v) for v in msg.k]
    if len(k) != 9 or not _finite(*k):
        return "nonfinite"
    fx, cx, fy, cy = k[0], k[2], k[4], k[5]
    if fx <= 0 or fy <= 0 or not (0 <= cx <= w and 0 <= cy <= h):
        return "intrinsics"
    return None


def check_radar(msg: Any, limits: GateLimits) -> str | None:
    """Reason a RadarTracks scan cannot be used, or None; one impossible track spoils the scan."""
    if len(msg.tracks) > limits.max_radar_tracks:
        return "too_many_tracks"
    for t in msg.tracks:
        p, v, s = t.position, t.velocity, t.size
        values = (p.x, p.y, p.z, v.x, v.y, v.z, s.x, s.y, s.z)
        if not _finite(*(float(x) for x in values)):
            return "nonfinite"
        if math.hypot(p.x, p.y, p.z) > limits.max_radar_range_m:
            return "geometry"
        if min(s.x, s.y, s.z) < 0 or max(s.x, s.y, s.z) > limits.max_radar_size_m:
            return "geometry"
        if math.hypot(v.x, v.y, v.z) > limits.max_radar_speed_mps:
            return "geometry"
    return None


def check_gps(msg: Any, limits: GateLimits) -> str | None:
    """Reason a NavSatFix cannot be used, or None (no-fix is the fusion engine's call)."""
    lat, lon, alt = float(msg.latitude), float(msg.longitude), float(msg.altitude)
    if not _finite(lat, lon):
        return "nonfinite"
    if abs(lat) > 90 or abs(lon) > 180 or (math.isfinite(alt) and abs(alt) > 1e5):
        return "out_of_range"
    return None


_CHECKS = {IMAGE: check_image, CAMERA_INFO: check_camera_info, RADAR_TRACKS: check_radar, NAV_SAT_FIX: check_gps}


class InputGate:
    """Per-topic admission: content checks, then frame id, source, stamp order and intrinsics.

    The first sample that passes the content checks fixes a topic's frame id and source (ROS
    sensor topics have one driver); a driver that restarts gets a new publisher id, so a silent
    source is replaced once the new one has sent `jump_confirmations` samples in a row.
    """

    def __init__(self, limits: GateLimits | None = None) -> None:
        self.limits = limits or GateLimits()
        self._streams: dict[str, _Stream] = {}

    def reset(self) -> None:
        """Sensor time restarted (a drive replayed again): forget stamps, keep ids and intrinsics."""
        for stream in self._streams.values():
            stream.last_stamp_ns = None
            stream.candidate_ns, stream.candidate_count = None, 0

    def admit(
        self, topic: str, typename: str, msg: Any, source: bytes | None = None, now_ns: int = 0
    ) -> str | None:
        """None if `msg` may be used; else the reason it is rejected. Never raises on bad fields.

        `source` is the publisher id and `now_ns` the arrival time (any monotone clock).
        """
        known = self._streams.get(topic)
        if known is not None and source is not None and source == known.source:
            known.source_seen_ns = max(known.source_seen_ns, now_ns)
        try:
            reason = _CHECKS[typename](msg, self.limits) if typename in _CHECKS else None
            if reason is not None:
                return reason
            stamp = _stamp_ns(msg)
            frame_id = str(msg.header.frame_id)
        except (AttributeError, TypeError, ValueError, OverflowError):
            return "malformed"
        stream = self._streams.setdefault(topic, _Stream())
        if stream.frame_id is not None and frame_id != stream.frame_id:
            return "frame_id"
        if stream.source is not None and source is not None and source != stream.source:
            if not self._takes_over(stream, source, now_ns):
                return "second_source"
        elif source is not None:
            stream.rival, stream.rival_count = None, 0
        if typename == CAMERA_INFO and stream.intrinsics is not None and _intrinsics(msg) != stream.intrinsics:
            return "intrinsics_changed"
        reason = self._check_stamp(stream, stamp)
        if reason is not None:
            return reason
        stream.frame_id = frame_id
        if source is not None:
            stream.source = source
            stream.source_seen_ns = max(stream.source_seen_ns, now_ns)
        if typename == CAMERA_INFO:
            stream.intrinsics = _intrinsics(msg)
        return None

    def _takes_over(self, stream: _Stream, source: bytes, now_ns: int) -> bool:
        # A restarted driver (new publisher id) takes over only once the old source has been
        # silent for a while and the new one sent N plausible samples: a second source
        # interleaved with the live one never does, however much it sends.
        stream.rival_count = stream.rival_count + 1 if source == stream.rival else 1
        stream.rival = source
        silent = now_ns - stream.source_seen_ns >= self.limits.source_silence_s * 1e9
        if stream.rival_count < self.limits.jump_confirmations or not silent:
            return False
        stream.rival, stream.rival_count = None, 0
        return True

    def _check_stamp(self, stream: _Stream, stamp: int) -> str | None:
        last = stream.last_stamp_ns
        max_jump = int(self.limits.max_jump_s * 1e9)
        if stamp <= 0:
            return "stamp"
        if last is None or 0 < stamp - last <= max_jump:
            stream.last_stamp_ns = stamp
            stream.candidate_ns, stream.candidate_count = None, 0
            return None
        if last - max_jump < stamp <= last:
            return "out_of_order"
        # A jump: believed only when the following samples continue from it; one garbage stamp
        # never moves the timeline, and the valid samples in between keep resetting the count.
        if stream.candidate_ns is not None and 0 < stamp - stream.candidate_ns <= max_jump:
            stream.candidate_count += 1
        else:
            stream.candidate_count = 1
        stream.candidate_ns = stamp
        if stream.candidate_count >= self.limits.jump_confirmations:
            stream.last_stamp_ns = stamp
            stream.candidate_ns, stream.candidate_count = None, 0
            return None
        return "time_jump"
