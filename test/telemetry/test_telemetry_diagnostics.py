from __future__ import annotations

import pytest

from edge_llm_ros.msgs import CodecError, Distro, MessageCodec, get_codec
from edge_llm_ros.telemetry.diagnostics import (
    ARRAY_TYPE,
    CounterStatus,
    DiagnosticArrayData,
    DiagnosticStatusData,
    DiagnosticUpdater,
    FrequencyStatus,
    LatencyStatus,
    Level,
    StatusReport,
    deserialize,
    from_ros,
    serialize,
    to_ros,
)
from edge_llm_ros.telemetry.latency_stats import LatencyStats
from edge_llm_ros.telemetry.stamps import ManualClock

MS = 1_000_000
S = 1_000_000_000


def sample_array() -> DiagnosticArrayData:
    return DiagnosticArrayData(
        stamp_ns=1_700_000_123 * S + 456_789,
        frame_id="base_link",
        status=(
            DiagnosticStatusData(
                Level.OK, "decision: frequency", "desired frequency met", "edge-01", (("actual frequency [Hz]", "10"),)
            ),
            DiagnosticStatusData(Level.STALE, "decision: latency", "no latency samples yet", "edge-01", ()),
            DiagnosticStatusData(Level.ERROR, "vision_inference: drops", "5 new", "", (("deadline", "5 (+5)"),)),
        ),
    )


@pytest.mark.parametrize("distro", list(Distro))
def test_round_trip_through_codec(distro: Distro) -> None:
    codec = get_codec(distro)
    array = sample_array()
    data = serialize(array, codec)
    assert data[:2] in (b"\x00\x01", b"\x00\x00")  # CDR encapsulation header
    assert deserialize(data, codec) == array
    # The same bytes decode with the plain message class, as any ROS 2 subscriber would see them.
    msg = codec.deserialize(data, ARRAY_TYPE)
    assert msg.status[2].level == 2
    assert msg.status[0].values[0].key == "actual frequency [Hz]"
    assert msg.header.stamp.sec == 1_700_000_123 and msg.header.stamp.nanosec == 456_789
    assert from_ros(to_ros(array, codec)) == array
    assert array.worst_level is Level.STALE


def test_truncated_payload_is_a_codec_error() -> None:
    data = serialize(sample_array())
    with pytest.raises(CodecError):
        deserialize(data[: len(data) // 2])
    assert isinstance(get_codec(), MessageCodec)


def test_frequency_status_levels() -> None:
    clock = ManualClock(0)
    freq = FrequencyStatus(min_hz=9, max_hz=11, window_s=2.0, clock=clock)
    assert freq.run(clock()).level is Level.STALE  # nothing yet, window not elapsed
    clock.advance(3 * S)
    assert freq.run(clock()).level is Level.ERROR
    freq.reset()
    for _ in range(40):  # 10 Hz for 4 s
        clock.advance(100 * MS)
        freq.tick()
    ok = freq.run(clock())
    assert ok.level is Level.OK and ok.message == "desired frequency met"
    assert dict(ok.values)["actual frequency [Hz]"] == "10"
    for _ in range(20):  # 5 Hz for 4 s
        clock.advance(200 * MS)
        freq.tick()
    assert freq.run(clock()).level is Level.WARN
    for _ in range(100):  # 50 Hz for 2 s
        clock.advance(20 * MS)
        freq.tick()
    low_high = freq.run(clock())
    assert low_high.level is Level.WARN and "too high" in low_high.message
    with pytest.raises(ValueError):
        FrequencyStatus(min_hz=0)


def test_latency_status_levels_share_stats() -> None:
    stats = LatencyStats(window=100)
    check = LatencyStatus(budget_ms=100, stats=stats)
    assert check.run(0).level is Level.STALE
    stats.extend([10.0] * 100)
    assert check.run(0).level is Level.OK
    stats.extend([90.0] * 5)
    assert check.run(0).level is Level.WARN
    check.observe(150.0)
    check.observe(150.0)
    report = check.run(0)
    assert report.level is Level.ERROR and "over budget" in report.message
    assert dict(report.values)["budget [ms]"] == "100"


def test_counter_status_levels_from_growth() -> None:
    drops: dict[str, int] = {}
    check = CounterStatus("drops", warn_delta=1, error_delta=10, source=lambda: drops)
    assert check.run(0).level is Level.OK
    drops["deadline"] = 3
    warn = check.run(0)
    assert warn.level is Level.WARN and dict(warn.values) == {"deadline": "3 (+3)"}
    assert check.run(0).level is Level.OK  # no growth since the last report
    drops["overflow"] = 12
    assert check.run(0).level is Level.ERROR
    info = CounterStatus("frames", warn_delta=None)
    info.increment("decisions", 5)
    assert info.run(0).level is Level.OK


def test_updater_names_period_and_failing_check() -> None:
    clock = ManualClock(10 * S)
    updater = DiagnosticUpdater("decision", hardware_id="edge-01", period_s=1.0, clock=clock)
    freq = updater.add(FrequencyStatus(min_hz=1, window_s=1.0, clock=clock))
    updater.add_function("model", lambda: StatusReport.make(Level.OK, "loaded", {"version": "1.2.0", "sha": "ab"}))

    def broken() -> StatusReport:
        raise RuntimeError("boom")

    updater.add_function("broken", broken)
    assert isinstance(freq, FrequencyStatus)
    array = updater.maybe_update()
    assert array is not None and array.stamp_ns == 10 * S
    by_name = array.by_name()
    assert set(by_name) == {"decision: frequency", "decision: model", "decision: broken"}
    assert by_name["decision: model"].value_dict() == {"version": "1.2.0", "sha": "ab"}
    assert by_name["decision: model"].hardware_id == "edge-01"
    assert by_name["decision: broken"].level is Level.ERROR and "boom" in by_name["decision: broken"].message
    assert updater.maybe_update() is None  # within the period
    clock.advance(S)
    later = updater.maybe_update()
    assert later is not None and later.worst_level is Level.ERROR
    assert deserialize(serialize(later)) == later
