from __future__ import annotations

import json
import time

import pytest

from edge_llm_ros.telemetry.stamps import (
    MAX_SPANS,
    FrameTiming,
    ManualClock,
    StampsError,
    hop_name,
    wall_clock,
)

MS = 1_000_000


def _pipeline_frame(clock: ManualClock) -> FrameTiming:
    sensor = clock()
    timing = FrameTiming.begin(sensor, clock=clock)
    clock.advance(1 * MS)
    with timing.stage("fusion", clock):
        clock.advance(2 * MS)
    timing.add_hop("/edge_llm/rois", clock(), clock.advance(1 * MS))
    with timing.stage("roi", clock):
        clock.advance(3 * MS)
    with timing.stage("vision", clock):
        clock.advance(20 * MS)
    with timing.stage("decision", clock):
        clock.advance(1 * MS)
    timing.mark_published(clock)
    return timing


def test_stage_durations_and_e2e_on_injected_clock() -> None:
    clock = ManualClock(1_700_000_000 * 10**9)
    timing = _pipeline_frame(clock)
    assert timing.stage_durations_ns() == {
        "fusion": 2 * MS,
        hop_name("/edge_llm/rois"): 1 * MS,
        "roi": 3 * MS,
        "vision": 20 * MS,
        "decision": 1 * MS,
    }
    assert timing.e2e_ns() == 28 * MS
    assert timing.summary_ms() == {
        "stages_ms": {"fusion": 2.0, "hop:/edge_llm/rois": 1.0, "roi": 3.0, "vision": 20.0, "decision": 1.0},
        "e2e_ms": 28.0,
    }
    assert [s.is_hop for s in timing.spans] == [False, True, False, False, False]


def test_wire_form_is_compact_and_lossless() -> None:
    timing = _pipeline_frame(ManualClock(1_700_000_000_123_456_789))
    text = timing.to_json()
    data = json.loads(text)
    assert data["v"] == 1
    assert "origin_ns" not in data  # equal to the sensor stamp, so left out
    assert data["spans"][0] == ["fusion", 1 * MS, 3 * MS]  # offsets from the origin
    assert data["published_ns"] == 28 * MS
    assert " " not in text
    back = FrameTiming.from_json(text)
    assert back == timing
    assert FrameTiming.from_dict(timing.to_dict()) == timing


def test_sim_time_origin_keeps_latency_in_wall_terms() -> None:
    # Bag time is years behind wall time; the frame is 4 ms old on the sim clock at ingest.
    wall = ManualClock(1_800_000_000 * 10**9)
    sim_stamp = 1_600_000_000 * 10**9
    timing = FrameTiming.begin(sim_stamp, clock=wall, sensor_clock_now_ns=sim_stamp + 4 * MS)
    assert timing.origin_ns == wall() - 4 * MS
    with timing.stage("fusion", wall):
        wall.advance(5 * MS)
    timing.mark_published(wall)
    assert timing.e2e_ns() == 9 * MS
    back = FrameTiming.from_json(timing.to_json())
    assert back.sensor_stamp_ns == sim_stamp
    assert back.e2e_ns() == 9 * MS


def test_stage_kept_when_body_raises() -> None:
    clock = ManualClock()
    timing = FrameTiming.begin(0, clock=clock)
    with pytest.raises(RuntimeError), timing.stage("roi", clock):
        clock.advance(7)
        raise RuntimeError("bad crop")
    assert timing.stage_durations_ns() == {"roi": 7}


def test_merge_of_two_branches_of_one_frame() -> None:
    clock = ManualClock(10 * MS)
    shared = FrameTiming.begin(clock(), clock=clock)
    with shared.stage("fusion", clock):
        clock.advance(MS)
    a, b = shared.copy(), shared.copy()
    a.add("vision", clock(), clock() + 5 * MS)
    b.add("llm", clock(), clock() + 50 * MS)
    merged = a.merge(b)
    assert [s.name for s in merged.spans] == ["fusion", "vision", "llm"]
    with pytest.raises(StampsError):
        a.merge(FrameTiming(a.sensor_stamp_ns + 1))


def test_repeated_stage_names_add_up_and_hop_skew_is_clamped() -> None:
    timing = FrameTiming(0)
    timing.add("vision", 0, 5)
    timing.add("vision", 10, 12)
    span = timing.add_hop("/t", sent_ns=100, received_ns=90)  # receiver clock slightly behind
    assert span.duration_ns == 0
    assert timing.stage_durations_ns()["vision"] == 7


def test_unpublished_frame_has_no_e2e() -> None:
    timing = FrameTiming(5)
    with pytest.raises(StampsError):
        timing.e2e_ns()
    assert timing.e2e_ns(publish_ns=15) == 10
    assert "e2e_ms" not in timing.summary_ms()


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xfe",
        "not json",
        "[]",
        '{"v": 2, "sensor_ns": 1, "spans": []}',
        '{"v": 1, "spans": []}',
        '{"v": 1, "sensor_ns": true, "spans": []}',
        '{"v": 1, "sensor_ns": 1.5, "spans": []}',
        '{"v": 1, "sensor_ns": 1, "spans": [["a", 5, 1]]}',
        '{"v": 1, "sensor_ns": 1, "spans": [["", 1, 5]]}',
        '{"v": 1, "sensor_ns": 1, "spans": [["a", 1]]}',
        '{"v": 1, "sensor_ns": 1, "spans": {"a": 1}}',
        '{"v": 1, "sensor_ns": 1, "spans": [], "published_ns": "soon"}',
        json.dumps({"v": 1, "sensor_ns": 1, "spans": [["a", 0, 1]] * (MAX_SPANS + 1)}),
        "x" * 70_000,
    ],
)
def test_malformed_wire_payloads_are_rejected(payload: str | bytes) -> None:
    with pytest.raises(StampsError):
        FrameTiming.from_json(payload)


def test_manual_clock_does_not_run_backwards_and_wall_clock_is_ns() -> None:
    clock = ManualClock(5)
    with pytest.raises(ValueError):
        clock.advance(-1)
    assert clock.advance(5) == 10
    before = time.time_ns()
    now = wall_clock()
    assert before <= now <= time.time_ns()  # the system clock, in ns since the epoch
