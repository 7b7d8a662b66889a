"""What a scene generator yields and the message builders both scenes share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from edge_llm_ros.msgs import MessageCodec
from edge_llm_ros.sim.calibration import PinholeCamera
from edge_llm_ros.transport.qos import DEFAULT, SENSOR_DATA, QoSProfile

# A fixed epoch keeps bags byte-identical across runs (2023-11-14T22:13:20Z).
DEFAULT_START_NS = 1_700_000_000_000_000_000

IMAGE_TOPIC = "/camera/image_raw"
CAMERA_INFO_TOPIC = "/camera/camera_info"
RADAR_TOPIC = "/radar/tracks"
GPS_TOPIC = "/gps/fix"
GROUND_TRUTH_TOPIC = "/ground_truth/scene"

IMAGE_TYPE = "sensor_msgs/msg/Image"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
RADAR_TYPE = "radar_msgs/msg/RadarTracks"
GPS_TYPE = "sensor_msgs/msg/NavSatFix"
STRING_TYPE = "std_msgs/msg/String"


@dataclass(frozen=True)
class TopicSpec:
    """A topic a scene writes, with its type and offered QoS."""

    name: str
    typename: str
    qos: QoSProfile


SENSOR_TOPICS = {
    IMAGE_TOPIC: TopicSpec(IMAGE_TOPIC, IMAGE_TYPE, SENSOR_DATA),
    CAMERA_INFO_TOPIC: TopicSpec(CAMERA_INFO_TOPIC, CAMERA_INFO_TYPE, SENSOR_DATA),
    RADAR_TOPIC: TopicSpec(RADAR_TOPIC, RADAR_TYPE, SENSOR_DATA),
    GPS_TOPIC: TopicSpec(GPS_TOPIC, GPS_TYPE, SENSOR_DATA),
    GROUND_TRUTH_TOPIC: TopicSpec(GROUND_TRUTH_TOPIC, STRING_TYPE, DEFAULT),
}


class BagRecord(NamedTuple):
    """One message to record at `stamp_ns`: a message object, or raw CDR bytes (fault injection)."""

    topic: str
    stamp_ns: int
    payload: Any


@dataclass(frozen=True)
class Fault:
    """A deliberately bad message written in faults mode."""

    kind: str
    topic: str
    record_stamp_ns: int
    header_stamp_ns: int | None
    replaces_good_message: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (custom_data 'edge_llm_ros/faults')."""
        return {
            "kind": self.kind,
            "topic": self.topic,
            "record_stamp_ns": self.record_stamp_ns,
            "header_stamp_ns": self.header_stamp_ns,
            "replaces_good_message": self.replaces_good_message,
        }


class MessageFactory:
    """Builds the standard messages from plain values with the codec's message classes."""

    def __init__(self, codec: MessageCodec) -> None:
        """Look up the message classes once."""
        self.codec = codec
        self._time = codec.msg_class("builtin_interfaces/msg/Time")
        self._header = codec.msg_class("std_msgs/msg/Header")
        self._image = codec.msg_class(IMAGE_TYPE)
        self._info = codec.msg_class(CAMERA_INFO_TYPE)
        self._roi = codec.msg_class("sensor_msgs/msg/RegionOfInterest")
        self._string = codec.msg_class(STRING_TYPE)

    def header(self, stamp_ns: int, frame_id: str) -> Any:
        """std_msgs/Header for a stamp in nanoseconds."""
        return self._header(
            stamp=self._time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000), frame_id=frame_id
        )

    def image(self, stamp_ns: int, frame_id: str, rgb: npt.NDArray[np.uint8], encoding: str = "rgb8") -> Any:
        """sensor_msgs/Image from an (H, W, 3) array."""
        height, width = rgb.shape[:2]
        channels = rgb.shape[2] if rgb.ndim == 3 else 1
        return self._image(
            header=self.header(stamp_ns, frame_id),
            height=height,
            width=width,
            encoding=encoding,
            is_bigendian=0,
            step=width * channels,
            data=np.ascontiguousarray(rgb).reshape(-1),
        )

    def camera_info(self, stamp_ns: int, frame_id: str, camera: PinholeCamera) -> Any:
        """sensor_msgs/CameraInfo of an undistorted pinhole camera."""
        return self._info(
            header=self.header(stamp_ns, frame_id),
            height=camera.height,
            width=camera.width,
            distortion_model="plumb_bob",
            d=np.zeros(5),
            k=camera.k.ravel().copy(),
            r=np.eye(3).ravel(),
            p=camera.p.ravel().copy(),
            binning_x=0,
            binning_y=0,
            roi=self._roi(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
        )

    def string(self, text: str) -> Any:
        """std_msgs/String."""
        return self._string(data=text)
