"""InputGate on real messages from a synthesized drive: each defect of issue 15 has a test here."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_llm_ros.app.replay.mutations import Mutator, raw_mutation
from edge_llm_ros.bags.reader import BagReader
from edge_llm_ros.fusion.input_gate import CAMERA_INFO, IMAGE, NAV_SAT_FIX, RADAR_TRACKS, InputGate
from edge_llm_ros.msgs.codec import get_codec

SRC = b"s" * 16
OTHER = b"o" * 16
S = 1_000_000_000


@pytest.fixture(scope="module")
def samples(short_drive: Path) -> dict[str, list[tuple[str, bytes]]]:
    """topic -> [(typename, cdr)] in bag order."""
    out: dict[str, list[tuple[str, bytes]]] = {}
    with BagReader(short_drive) as bag:
        for m in bag.messages():
            if m.typename in (IMAGE, CAMERA_INFO, RADAR_TRACKS, NAV_SAT_FIX):
                out.setdefault(m.topic, []).append((m.typename, bytes(m.data)))
    return out


def decoded(samples: dict[str, list[tuple[str, bytes]]], topic: str, i: int = 0) -> Any:
    typename, data = samples[topic][i]
    return get_codec().deserialize(data, typename)


def shift(msg: Any, delta_ns: int) -> Any:
    msg = copy.deepcopy(msg)
    total = msg.header.stamp.sec * S + msg.header.stamp.nanosec + delta_ns
    msg.header.stamp.sec, msg.header.stamp.nanosec = total // S, total % S
    return msg


def test_valid_drive_passes_the_gate(samples: dict[str, list[tuple[str, bytes]]]) -> None:
    gate = InputGate()
    for topic, items in samples.items():
        for i, (typename, _) in enumerate(items):
            assert gate.admit(topic, typename, decoded(samples, topic, i), SRC, i) is None, (topic, i)


def test_future_stamp_does_not_block_the_valid_stream(samples: dict[str, list[tuple[str, bytes]]]) -> None:
    """Regression (issue 15): one radar scan stamped an hour ahead made every later scan 'out of order'."""
    gate = InputGate()
    topic = "/radar/tracks"
    assert gate.admit(topic, RADAR_TRACKS, decoded(samples, topic, 0), SRC) is None
    assert gate.admit(topic, RADAR_TRACKS, shift(decoded(samples, topic, 1), 3600 * S), SRC) == "time_jump"
    for i in range(1, 5):
        assert gate.admit(topic, RADAR_TRACKS, decoded(samples, topic, i), SRC) is None


def test_a_real_time_jump_is_believed_after_consistent_samples(samples: dict[str, list[tuple[str, bytes]]]) -> None:
    gate = InputGate()
    topic = "/gps/fix"
    assert gate.admit(topic, NAV_SAT_FIX, decoded(samples, topic, 0), SRC) is None
    later = [shift(decoded(samples, topic, i), 60 * S) for i in range(1, 5)]
    assert [gate.admit(topic, NAV_SAT_FIX, m, SRC) for m in later] == ["time_jump", "time_jump", None, None]


def test_bad_image_with_the_valid_stamp_never_takes_its_place(samples: dict[str, list[tuple[str, bytes]]]) -> None:
    """Regression (issue 15): exact-time sync kept the first image of an instant, garbage included."""
    gate = InputGate()
    topic = "/camera/image_raw"
    assert gate.admit(topic, IMAGE, decoded(samples, topic, 0), SRC) is None
    valid = decoded(samples, topic, 1)
    bad = copy.deepcopy(valid)
    bad.step += 1
    assert gate.admit(topic, IMAGE, bad, SRC) == "step_size_mismatch"
    assert gate.admit(topic, IMAGE, valid, SRC) is None
    assert gate.admit(topic, IMAGE, copy.deepcopy(valid), SRC) == "out_of_order"  # a late duplicate


def test_intrinsics_changing_mid_drive_are_rejected(samples: dict[str, list[tuple[str, bytes]]]) -> None:
    gate = InputGate()
    topic = "/camera/camera_info"
    assert gate.admit(topic, CAMERA_INFO, decoded(samples, topic, 0), SRC) is None
    changed = decoded(samples, topic, 1)
    changed.k = changed.k.copy()
    changed.k[0] *= 1.2
    assert gate.admit(topic, CAMERA_INFO, changed, SRC) == "intrinsics_changed"
    assert gate.admit(topic, CAMERA_INFO, decoded(samples, topic, 1), SRC) is None


def test_impossible_radar_geometry_spoils_the_whole_scan(samples: dict[str, list[tuple[str, bytes]]]) -> None:
    gate = InputGate()
    topic = "/radar/tracks"
    scan = decoded(samples, topic, 0)
    assert scan.tracks, "the drive has radar targets"
    for field, value, reason in (
        ("position", float("nan"), "nonfinite"),
        ("position", 5e4, "geometry"),
        ("size", -1.0, "geometry"),
        ("velocity", 1e4, "geometry"),
    ):
        bad = copy.deepcopy(scan)
        getattr(bad.tracks[-1], field).x = value
        assert gate.admit(topic, RADAR_TRACKS, bad, SRC) == reason, field
    assert gate.admit(topic, RADAR_TRACKS, scan, SRC) is None


def test_wrong_frame_id_and_second_source_are_rejected(samples: dict[str, list[tuple[str, bytes]]]) -> None:
    gate = InputGate()
    topic = "/gps/fix"
    assert gate.admit(topic, NAV_SAT_FIX, decoded(samples, topic, 0), SRC, 0) is None
    wrong = decoded(samples, topic, 1)
    wrong.header.frame_id = "gps_\u2603"
    assert gate.admit(topic, NAV_SAT_FIX, wrong, SRC, 1) == "frame_id"
    # Another publisher never replaces a live source, however much it sends...
    for i in range(1, 6):
        assert gate.admit(topic, NAV_SAT_FIX, decoded(samples, topic, i), OTHER, i) == "second_source"
    # ...but takes over from one that fell silent (a restarted driver has a new publisher id).
    late = 10 * S
    verdicts = [gate.admit(topic, NAV_SAT_FIX, decoded(samples, topic, i), OTHER, late + i) for i in (6, 7, 8)]
    assert verdicts == [None, None, None]
    assert gate.admit(topic, NAV_SAT_FIX, decoded(samples, topic, 9), SRC, late + 9) == "second_source"


nonfinite = st.sampled_from([math.nan, math.inf, -math.inf])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    topic=st.sampled_from(["/camera/camera_info", "/radar/tracks", "/gps/fix"]),
    value=nonfinite,
    index=st.integers(min_value=0, max_value=8),
)
def test_any_nonfinite_field_is_rejected(
    samples: dict[str, list[tuple[str, bytes]]], topic: str, value: float, index: int
) -> None:
    gate = InputGate()
    typename = samples[topic][0][0]
    assert gate.admit(topic, typename, decoded(samples, topic, 0), SRC) is None
    msg = decoded(samples, topic, 1)
    if typename == CAMERA_INFO:
        msg.k = msg.k.copy()
        msg.k[[0, 2, 4, 5][index % 4]] = value
    elif typename == RADAR_TRACKS:
        track = msg.tracks[index % len(msg.tracks)]
        setattr((track.position, track.velocity, track.size)[index % 3], "xyz"[index // 3], value)
    else:
        setattr(msg, ("latitude", "longitude")[index % 2], value)
    assert gate.admit(topic, typename, msg, SRC) is not None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    width=st.integers(min_value=0, max_value=2**32 - 1),
    height=st.integers(min_value=0, max_value=2**32 - 1),
    step=st.integers(min_value=0, max_value=2**32 - 1),
    encoding=st.text(max_size=12),
    frame_id=st.text(max_size=20),
    stamp_delta_s=st.integers(min_value=-10**6, max_value=10**6),
)
def test_structured_image_mutations_never_raise_and_never_pass_unless_valid(
    samples: dict[str, list[tuple[str, bytes]]],
    width: int,
    height: int,
    step: int,
    encoding: str,
    frame_id: str,
    stamp_delta_s: int,
) -> None:
    gate = InputGate()
    topic = "/camera/image_raw"
    valid = decoded(samples, topic, 0)
    assert gate.admit(topic, IMAGE, valid, SRC) is None
    msg = shift(decoded(samples, topic, 1), stamp_delta_s * S)
    msg.width, msg.height, msg.step, msg.encoding, msg.header.frame_id = width, height, step, encoding, frame_id
    codec = get_codec()
    again = codec.deserialize(codec.serialize(msg, IMAGE), IMAGE)  # what arrives over the wire
    verdict = gate.admit(topic, IMAGE, again, SRC)
    same_shape = (width, height, step, encoding) == (valid.width, valid.height, valid.step, valid.encoding)
    if not (same_shape and frame_id == valid.header.frame_id and 0 < stamp_delta_s <= 1):
        assert verdict is not None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_raw_mutations_either_fail_to_decode_or_are_judged_without_raising(
    samples: dict[str, list[tuple[str, bytes]]], seed: int
) -> None:
    import random

    from edge_llm_ros.msgs.codec import CodecError

    codec = get_codec()
    rng = random.Random(seed)
    topic = rng.choice(sorted(samples))
    typename, data = samples[topic][1]
    _kind, garbage = raw_mutation(data, rng)
    try:
        msg = codec.deserialize(garbage, typename)
    except CodecError:
        return
    InputGate().admit(topic, typename, msg, SRC)  # any verdict, never an exception


def test_mutator_is_reproducible(samples: dict[str, list[tuple[str, bytes]]]) -> None:
    typename, data = samples["/radar/tracks"][0]
    first = Mutator(get_codec(), 7, 5.0).mutate(typename, data)
    second = Mutator(get_codec(), 7, 5.0).mutate(typename, data)
    assert [(m.kind, m.data) for m in first] == [(m.kind, m.data) for m in second]
