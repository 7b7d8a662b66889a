"""Conversions between ROS messages (rosbags dataclasses) and component inputs/outputs."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_llm_ros.decision.classified import ClassifiedRoi
from edge_llm_ros.fusion.collector import RadarTrackInput
from edge_llm_ros.msgs.codec import MessageCodec
from edge_llm_ros.roi.boxes import Box
from edge_llm_ros.runtime.clock import ns_to_stamp_fields, stamp_to_ns


class ImageError(ValueError):
    """An Image message whose size, step or encoding does not describe its data."""


def header(codec: MessageCodec, stamp_ns: int, frame_id: str) -> Any:
    """std_msgs/Header with a stamp in ns."""
    sec, nanosec = ns_to_stamp_fields(stamp_ns)
    time_cls = codec.msg_class("builtin_interfaces/msg/Time")
    return codec.msg_class("std_msgs/msg/Header")(stamp=time_cls(sec=sec, nanosec=nanosec), frame_id=frame_id)


def string_msg(codec: MessageCodec, text: str) -> Any:
    """std_msgs/String."""
    return codec.msg_class("std_msgs/msg/String")(data=text)


def image_to_rgb(msg: Any, max_bytes: int = 32 * 1024 * 1024) -> NDArray[np.uint8]:
    """sensor_msgs/Image (rgb8/bgr8) as an HxWx3 RGB view/array; bad geometry raises ImageError."""
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if msg.encoding not in ("rgb8", "bgr8"):
        raise ImageError(f"unsupported encoding {msg.encoding!r}")
    data = np.asarray(msg.data, dtype=np.uint8)
    if h <= 0 or w <= 0 or step < 3 * w or data.size != h * step or data.size > max_bytes:
        raise ImageError(f"image {w}x{h} step {step} does not match {data.size} bytes")
    rows = data.reshape(h, step)[:, : 3 * w].reshape(h, w, 3)
    return rows if msg.encoding == "rgb8" else rows[:, :, ::-1]


def radar_tracks(msg: Any) -> tuple[int, list[RadarTrackInput]]:
    """radar_msgs/RadarTracks -> (stamp_ns, tracks)."""
    tracks = [
        RadarTrackInput(
            track_id=bytes(np.asarray(t.uuid.uuid, dtype=np.uint8)).hex(),
            classification=int(t.classification),
            position=(float(t.position.x), float(t.position.y), float(t.position.z)),
            velocity=(float(t.velocity.x), float(t.velocity.y), float(t.velocity.z)),
            size=(float(t.size.x), float(t.size.y), float(t.size.z)),
        )
        for t in msg.tracks
    ]
    return stamp_to_ns(msg.header.stamp), tracks


def detections_msg(codec: MessageCodec, stamp_ns: int, frame_id: str, rois: list[ClassifiedRoi]) -> Any:
    """vision_msgs/Detection2DArray: one Detection2D per ROI, id = radar track id (or '')."""
    det_cls = codec.msg_class("vision_msgs/msg/Detection2D")
    hyp_pose_cls = codec.msg_class("vision_msgs/msg/ObjectHypothesisWithPose")
    hyp_cls = codec.msg_class("vision_msgs/msg/ObjectHypothesis")
    bbox_cls = codec.msg_class("vision_msgs/msg/BoundingBox2D")
    pose2d_cls = codec.msg_class("vision_msgs/msg/Pose2D")
    point2d_cls = codec.msg_class("vision_msgs/msg/Point2D")
    pwc_cls = codec.msg_class("geometry_msgs/msg/PoseWithCovariance")
    pose_cls = codec.msg_class("geometry_msgs/msg/Pose")
    point_cls = codec.msg_class("geometry_msgs/msg/Point")
    quat_cls = codec.msg_class("geometry_msgs/msg/Quaternion")
    hdr = header(codec, stamp_ns, frame_id)
    detections = []
    for roi in rois:
        x1, y1, x2, y2 = roi.bbox
        detections.append(
            det_cls(
                header=hdr,
                results=[
                    hyp_pose_cls(
                        hypothesis=hyp_cls(class_id=roi.label, score=float(roi.score)),
                        pose=pwc_cls(
                            pose=pose_cls(
                                position=point_cls(x=0.0, y=0.0, z=0.0),
                                orientation=quat_cls(x=0.0, y=0.0, z=0.0, w=1.0),
                            ),
                            covariance=np.zeros(36, dtype=np.float64),
                        ),
                    )
                ],
                bbox=bbox_cls(
                    center=pose2d_cls(position=point2d_cls(x=(x1 + x2) / 2, y=(y1 + y2) / 2), theta=0.0),
                    size_x=x2 - x1,
                    size_y=y2 - y1,
                ),
                id=roi.track_id or "",
            )
        )
    return codec.msg_class("vision_msgs/msg/Detection2DArray")(header=hdr, detections=detections)


def detections_from_msg(msg: Any) -> tuple[int, str, list[ClassifiedRoi]]:
    """Detection2DArray -> (stamp_ns, frame_id, ROIs); a detection with no hypothesis is skipped."""
    rois = []
    for det in msg.detections:
        if not det.results:
            continue
        hyp = det.results[0].hypothesis
        cx, cy = float(det.bbox.center.position.x), float(det.bbox.center.position.y)
        half_w, half_h = float(det.bbox.size_x) / 2, float(det.bbox.size_y) / 2
        box: Box = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
        rois.append(ClassifiedRoi(det.id or None, str(hyp.class_id), float(hyp.score), box))
    return stamp_to_ns(msg.header.stamp), str(msg.header.frame_id), rois


def timing_record(stamp_ns: int, camera: str, stage: str, start_ns: int, end_ns: int, **extra: Any) -> str:
    """One stage's wall-clock span for a frame, as JSON for /edge_llm/stage_timing."""
    return json.dumps(
        {"stamp_ns": stamp_ns, "camera": camera, "stage": stage, "start_ns": start_ns, "end_ns": end_ns, **extra},
        separators=(",", ":"),
    )
