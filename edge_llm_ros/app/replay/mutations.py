"""Malformed variants of valid sensor samples, for the fuzz replay (issue 15).

Two families:
- raw: the CDR bytes of a valid sample made into garbage (random bytes, truncated, bit flips,
  a valid encapsulation header over garbage). They come from a second publisher, as garbage
  from another participant on the network would.
- structured: the decoded sample with one field made impossible (NaN/inf, huge or negative
  sizes, step/size/encoding mismatch, wrong or unicode frame id, empty arrays, out-of-order,
  future and jumping stamps, intrinsics changed mid-drive, impossible radar geometry),
  re-encoded as valid CDR from the sensor's own publisher; and an exact copy of the sample from
  a second publisher ("second_source").
Every variant is malformed or implausible on its own, so a correct pipeline rejects each one.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge_llm_ros.msgs.codec import MessageCodec

RAW_KINDS = ("random_bytes", "truncated", "bit_flips", "header_over_garbage")
_NS = 1_000_000_000


@dataclass(frozen=True)
class Mutation:
    """One malformed sample to publish next to a valid one."""

    kind: str
    data: bytes
    #: Published by the fuzzer's own publisher instead of the sensor's.
    other_source: bool
    #: Published right before the valid sample of its instant (else right after).
    before: bool


def raw_mutation(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """A raw-byte mutation of a valid CDR payload."""
    kind = rng.choice(RAW_KINDS)
    if kind == "random_bytes":
        return kind, rng.randbytes(rng.randrange(0, 2048))
    if kind == "truncated":
        return kind, data[: rng.randrange(0, max(1, len(data)))]
    if kind == "bit_flips":
        flipped = bytearray(data)
        # Flips land in the first 256 bytes (header, sizes, fields) as well as anywhere: a flip
        # deep in pixel data alone is still a plausible image, caught only by its source.
        for _ in range(rng.randint(1, 8)):
            span = len(flipped) if rng.random() < 0.5 else min(len(flipped), 256)
            i = rng.randrange(span)
            flipped[i] ^= 1 << rng.randrange(8)
        return kind, bytes(flipped)
    return kind, data[:4] + rng.randbytes(rng.randrange(0, max(1, min(len(data), 4096))))


def _stamp_shift(msg: Any, delta_ns: int) -> None:
    total = int(msg.header.stamp.sec) * _NS + int(msg.header.stamp.nanosec) + delta_ns
    total = max(0, total)
    msg.header.stamp.sec, msg.header.stamp.nanosec = total // _NS, total % _NS


def _bad_float(rng: random.Random) -> float:
    return rng.choice([float("nan"), float("inf"), float("-inf"), 1e300, -1e300])


def _common(msg: Any, rng: random.Random) -> str:
    """Mutations every stamped sensor message can take; returns the kind."""
    kind = rng.choice(["future_stamp", "time_jump", "old_stamp", "wrong_frame_id", "unicode_frame_id"])
    if kind == "future_stamp":
        _stamp_shift(msg, rng.randint(3600, 10**6) * _NS)
    elif kind == "time_jump":
        _stamp_shift(msg, rng.choice([1, -1]) * rng.randint(2, 600) * _NS)
    elif kind == "old_stamp":
        _stamp_shift(msg, -rng.randint(0, 900) * 1_000_000)  # at or before its own instant
    elif kind == "wrong_frame_id":
        msg.header.frame_id = rng.choice(["", "radar_link", "other_camera", "map"]) + "_x" * rng.randint(0, 2)
    else:
        msg.header.frame_id = "cam\u00e9ra_\u2603_" + str(msg.header.frame_id)
    return kind


def _image(msg: Any, rng: random.Random) -> str:
    kind = rng.choice(["encoding", "huge_size", "negative_size", "step_mismatch", "empty_data", "common"])
    if kind == "encoding":
        msg.encoding = rng.choice(["mono8", "yuv422", "", "rgb16", "RGB8", "rgb8\u00e9"])
    elif kind == "huge_size":
        msg.width, msg.height = rng.choice([(2**31 - 1, msg.height), (msg.width, 2**32 - 1), (100000, 100000)])
    elif kind == "negative_size":
        msg.width = 0 if rng.random() < 0.5 else msg.width * 2  # uint32 fields: "negative" wraps to huge
    elif kind == "step_mismatch":
        msg.step = msg.step + rng.choice([-3, 1, 7, msg.step])
    elif kind == "empty_data":
        msg.data = msg.data[:0]
    else:
        return _common(msg, rng)
    return kind


def _camera_info(msg: Any, rng: random.Random) -> str:
    kind = rng.choice(["nonfinite_k", "negative_focal", "intrinsics_changed", "zero_size", "empty_k", "common"])
    k = msg.k.copy()
    if kind == "nonfinite_k":
        k[rng.choice([0, 2, 4, 5])] = _bad_float(rng)
    elif kind == "negative_focal":
        k[0] = -abs(k[0]) - 1.0
    elif kind == "intrinsics_changed":
        k[0] *= rng.uniform(1.05, 2.0)
    elif kind == "zero_size":
        msg.width = 0
    elif kind == "empty_k":
        k[:] = 0.0
    else:
        return _common(msg, rng)
    msg.k = k
    return kind


def _radar(msg: Any, rng: random.Random) -> str:
    kinds = ["common", "empty_tracks"]
    if msg.tracks:
        kinds += ["nonfinite_track", "impossible_range", "negative_size", "impossible_speed"]
    kind = rng.choice(kinds)
    if kind == "empty_tracks":
        msg.tracks = []
        # An empty scan is plausible; stamped at or before its instant it can only be a stale copy.
        _stamp_shift(msg, -rng.randint(0, 50) * 1_000_000)
        return kind
    if kind == "common":
        return _common(msg, rng)
    track = rng.choice(msg.tracks)
    if kind == "nonfinite_track":
        vector = rng.choice([track.position, track.velocity, track.size])
        setattr(vector, rng.choice("xyz"), _bad_float(rng))
    elif kind == "impossible_range":
        track.position.x = rng.uniform(2e3, 1e9)
    elif kind == "negative_size":
        track.size.y = -rng.uniform(0.1, 100.0)
    else:
        track.velocity.x = rng.choice([-1, 1]) * rng.uniform(200.0, 1e6)
    return kind


def _gps(msg: Any, rng: random.Random) -> str:
    kind = rng.choice(["nonfinite", "out_of_range", "common"])
    if kind == "nonfinite":
        setattr(msg, rng.choice(["latitude", "longitude"]), _bad_float(rng))
    elif kind == "out_of_range":
        msg.latitude = rng.choice([91.0, -200.0, 1e9])
    else:
        return _common(msg, rng)
    return kind


STRUCTURED: dict[str, Callable[[Any, random.Random], str]] = {
    "sensor_msgs/msg/Image": _image,
    "sensor_msgs/msg/CameraInfo": _camera_info,
    "radar_msgs/msg/RadarTracks": _radar,
    "sensor_msgs/msg/NavSatFix": _gps,
}


class Mutator:
    """Draws malformed variants of valid samples, reproducibly from a seed."""

    def __init__(self, codec: MessageCodec, seed: int, per_sample: float, structured_share: float = 0.5) -> None:
        self.codec = codec
        self.rng = random.Random(seed)
        self.per_sample = per_sample
        self.structured_share = structured_share

    def count(self) -> int:
        """How many variants to send next to the next valid sample (mean `per_sample`)."""
        whole = int(self.per_sample)
        return whole + (1 if self.rng.random() < self.per_sample - whole else 0)

    def mutate(self, typename: str, data: bytes) -> list[Mutation]:
        """The malformed variants of one valid sample."""
        out = []
        for _ in range(self.count()):
            if typename in STRUCTURED and self.rng.random() < self.structured_share:
                out.append(self._structured(typename, data))
            else:
                kind, garbage = raw_mutation(data, self.rng)
                out.append(Mutation(f"raw.{kind}", garbage, other_source=True, before=self.rng.random() < 0.5))
        return out

    def _structured(self, typename: str, data: bytes) -> Mutation:
        if self.rng.random() < 0.1:
            # A valid copy from another publisher, ahead of the real one: it must not take its place.
            return Mutation("second_source", data, other_source=True, before=True)
        msg = copy.deepcopy(self.codec.deserialize(data, typename))
        kind = STRUCTURED[typename](msg, self.rng)
        # Stamp mutations go after the valid sample (a copy at or before its instant can only be
        # stale then); field mutations may come first and must still not take its place.
        before = kind not in ("old_stamp", "empty_tracks") and self.rng.random() < 0.5
        return Mutation(f"structured.{kind}", bytes(self.codec.serialize(msg, typename)), False, before)
