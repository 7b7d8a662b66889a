"""Deliberately bad messages for faults mode: every one must be rejected and counted downstream.

Kinds (the `kind` strings in the bag's custom_data 'edge_llm_ros/faults'):
- radar_nan            RadarTracks whose first track has NaN position.x and velocity.y (replaces a good one)
- radar_inf            RadarTracks whose first track has +inf velocity.x (replaces a good one)
- radar_out_of_order   an extra RadarTracks whose header stamp is 0.5 s older than the previous one
- radar_truncated_cdr  an extra RadarTracks payload cut in half (not decodable)
- camera_out_of_order  an extra Image whose header stamp is 0.3 s older than the previous frame
- camera_unknown_encoding  an Image with encoding 'x-unknown-16' (replaces a good frame)
- camera_size_mismatch     an extra rgb8 Image whose data holds half of height * step bytes
- gps_nan              NavSatFix with NaN latitude (replaces a good one)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from edge_llm_ros.sim.records import MessageFactory

UNKNOWN_ENCODING = "x-unknown-16"


def _first_track(msg: Any) -> tuple[Any, list[Any]]:
    tracks = list(msg.tracks)
    if not tracks:
        raise ValueError("radar fault needs a message with at least one track")
    return tracks[0], tracks


def radar_nan(msg: Any) -> Any:
    """Copy of a RadarTracks message with NaN in the first track's position.x and velocity.y."""
    track, tracks = _first_track(msg)
    tracks[0] = dataclasses.replace(
        track,
        position=dataclasses.replace(track.position, x=float("nan")),
        velocity=dataclasses.replace(track.velocity, y=float("nan")),
    )
    return dataclasses.replace(msg, tracks=tracks)


def radar_inf(msg: Any) -> Any:
    """Copy of a RadarTracks message with +inf in the first track's velocity.x."""
    track, tracks = _first_track(msg)
    tracks[0] = dataclasses.replace(track, velocity=dataclasses.replace(track.velocity, x=float("inf")))
    return dataclasses.replace(msg, tracks=tracks)


def restamp(msg: Any, stamp_ns: int, factory: MessageFactory) -> Any:
    """Copy of any header-carrying message with another header stamp."""
    return dataclasses.replace(msg, header=factory.header(stamp_ns, msg.header.frame_id))


def unknown_encoding(msg: Any) -> Any:
    """Copy of an Image that claims an encoding no decoder knows (2 bytes per pixel)."""
    data = np.zeros(msg.height * msg.width * 2, np.uint8)
    return dataclasses.replace(msg, encoding=UNKNOWN_ENCODING, step=msg.width * 2, data=data)


def size_mismatch(msg: Any) -> Any:
    """Copy of an Image whose data is half as long as height * step says."""
    return dataclasses.replace(msg, data=np.asarray(msg.data[: len(msg.data) // 2]).copy())


def gps_nan(msg: Any) -> Any:
    """Copy of a NavSatFix with NaN latitude."""
    return dataclasses.replace(msg, latitude=float("nan"))


def truncate(payload: bytes) -> bytes:
    """The first half of a CDR payload: a valid encapsulation header, then a cut-off body."""
    return payload[: max(4, len(payload) // 2)]
