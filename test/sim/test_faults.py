"""Faults mode writes each deliberately bad message where its custom_data entry says."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from edge_llm_ros.bags import BagReader
from edge_llm_ros.msgs import CodecError
from edge_llm_ros.sim import SynthResult
from edge_llm_ros.sim.faults import UNKNOWN_ENCODING

KINDS = {
    "radar_nan",
    "radar_inf",
    "radar_out_of_order",
    "radar_truncated_cdr",
    "camera_out_of_order",
    "camera_unknown_encoding",
    "camera_size_mismatch",
    "gps_nan",
}


def _stamp(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


@pytest.fixture(scope="module")
def recorded(faults_bag: SynthResult) -> tuple[list[dict[str, Any]], dict[tuple[str, int], list[Any]]]:
    by_key: dict[tuple[str, int], list[Any]] = {}
    with BagReader(faults_bag.path) as reader:
        faults = json.loads(reader.custom_data["edge_llm_ros/faults"])
        for message in reader.messages():
            try:
                decoded: Any = reader.decode(message)
            except CodecError as exc:
                decoded = exc
            by_key.setdefault((message.topic, message.stamp_ns), []).append(decoded)
    return faults, by_key


def test_every_fault_kind_listed(faults_bag: SynthResult, recorded: Any) -> None:
    faults, _ = recorded
    assert {f["kind"] for f in faults} == KINDS
    assert {f.kind for f in faults_bag.faults} == KINDS


def test_bad_messages_are_in_the_bag(recorded: Any) -> None:
    faults, by_key = recorded
    for fault in faults:
        found = by_key[(fault["topic"], fault["record_stamp_ns"])]
        assert len(found) == 1, fault
        msg = found[0]
        kind = fault["kind"]
        if kind == "radar_truncated_cdr":
            assert isinstance(msg, CodecError)
            continue
        assert not isinstance(msg, CodecError), fault
        if kind == "radar_nan":
            assert math.isnan(msg.tracks[0].position.x) and math.isnan(msg.tracks[0].velocity.y)
        elif kind == "radar_inf":
            assert math.isinf(msg.tracks[0].velocity.x)
        elif kind in ("radar_out_of_order", "camera_out_of_order"):
            assert _stamp(msg) == fault["header_stamp_ns"] < fault["record_stamp_ns"] - 100_000_000
        elif kind == "camera_unknown_encoding":
            assert msg.encoding == UNKNOWN_ENCODING
        elif kind == "camera_size_mismatch":
            assert msg.encoding == "rgb8" and len(msg.data) != msg.height * msg.step
        elif kind == "gps_nan":
            assert math.isnan(msg.latitude)


def test_out_of_order_stamp_goes_back_in_time(recorded: Any) -> None:
    faults, by_key = recorded
    for kind, topic in (("radar_out_of_order", "/radar/tracks"), ("camera_out_of_order", "/camera/image_raw")):
        fault = next(f for f in faults if f["kind"] == kind)
        earlier = [
            _stamp(m) for (t, s), msgs in by_key.items() for m in msgs if t == topic and s < fault["record_stamp_ns"]
        ]
        assert max(earlier) > fault["header_stamp_ns"]


def test_clean_drive_has_only_good_messages(traffic_bag: SynthResult) -> None:
    with BagReader(traffic_bag.path) as reader:
        assert "edge_llm_ros/faults" not in reader.custom_data
        last: dict[str, int] = {}
        for message, msg in reader.decoded(["/radar/tracks", "/camera/image_raw", "/gps/fix"]):
            assert msg is not None
            stamp = _stamp(msg)
            assert stamp == message.stamp_ns and stamp > last.get(message.topic, 0)
            last[message.topic] = stamp
            if message.topic == "/camera/image_raw":
                assert msg.encoding == "rgb8" and len(msg.data) == msg.height * msg.step
            elif message.topic == "/gps/fix":
                assert math.isfinite(msg.latitude) and math.isfinite(msg.longitude)
            else:
                for t in msg.tracks:
                    values = (t.position.x, t.position.y, t.position.z, t.velocity.x, t.velocity.y, t.velocity.z)
                    assert all(math.isfinite(v) for v in values)
