"""Rejection counters reach the replay report by topic and reason (issue 15: the report said 0)."""

from __future__ import annotations

from edge_llm_ros.app.replay.driver import ReplayResult
from edge_llm_ros.app.replay.report import record_run
from edge_llm_ros.telemetry.rejections import parse_rejection, rejection_key, rejections_by_topic
from edge_llm_ros.telemetry.report import build_report


def test_keys_round_trip_and_older_keys_still_parse() -> None:
    assert parse_rejection(rejection_key("/radar/tracks", "geometry")) == ("/radar/tracks", "geometry")
    assert parse_rejection("bad_input:/gps/fix") == ("/gps/fix", "decode")
    assert parse_rejection("rejected:encoding:yuv422") == ("unknown", "encoding:yuv422")
    assert parse_rejection("dropped_stale:camera") is None and parse_rejection("fused") is None


def test_a_sample_rejected_by_several_nodes_counts_once() -> None:
    counters = {
        "sensor_fusion": {"rejected:/camera/image_raw:size": 3, "bad_input:/gps/fix": 2, "fused": 10},
        "roi_preprocess": {"rejected:/camera/image_raw:size": 3},
        "vision_inference": {"rejected:/camera/image_raw:size": 3},
    }
    assert rejections_by_topic(counters) == {("/camera/image_raw", "size"): 3, ("/gps/fix", "decode"): 2}


def test_report_has_rejections_by_topic_and_reason() -> None:
    counters = {"sensor_fusion": {"rejected:/radar/tracks:nonfinite": 4, "bad_input:/radar/tracks": 1}}
    report = build_report(record_run(ReplayResult(), {}, counters))
    assert report["rejected"] == {"total": 5, "by_topic": {"/radar/tracks": {"decode": 1, "nonfinite": 4}}}
