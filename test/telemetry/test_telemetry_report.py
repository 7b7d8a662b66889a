from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from PIL import Image

from edge_llm_ros.telemetry.report import REPORT_SCHEMA, build_report, format_report, write_report
from edge_llm_ros.telemetry.run_record import RunRecorder
from edge_llm_ros.telemetry.stamps import FrameTiming, ManualClock

MS = 1_000_000


def synthetic_run(frames: int = 200) -> RunRecorder:
    """A deterministic 20 s drive at 10 Hz with a heavy-tailed vision stage and a few drops."""
    rng = np.random.default_rng(3)
    clock = ManualClock(1_700_000_000 * 10**9)
    rec = RunRecorder()
    for i in range(frames):
        clock.set(1_700_000_000 * 10**9 + i * 100 * MS)
        timing = FrameTiming.begin(clock(), clock=clock)
        clock.advance(int(rng.uniform(0.2, 1.0) * MS))
        for stage, ms in (("fusion", 1.5), ("roi", 2.0), ("vision", 18.0), ("decision", 0.8)):
            with timing.stage(stage, clock):
                clock.advance(int(rng.lognormal(np.log(ms), 0.35) * MS))
            timing.add_hop(f"/edge_llm/{stage}", clock(), clock.advance(int(rng.uniform(0.3, 1.5) * MS)))
        if i % 50 == 49:
            rec.drop("deadline", stage="vision")
            continue
        timing.mark_published(clock)
        rec.add_frame(timing)
        rec.add_batch(int(rng.choice([1, 4, 8, 8, 8])))
    rec.drop("stale", 2, stage="fusion")
    rec.reject("/radar/tracks", "nan_field")
    rec.reject("/radar/tracks", "nan_field")
    rec.reject("/camera/image_raw", "bad_encoding")
    return rec


def test_report_json_schema_and_figures(tmp_path: Path) -> None:
    rec = synthetic_run()
    accuracy = {"warning_precision": 0.95, "warning_recall": np.float64(0.92), "confusion": {"BRAKE": [3, 1]}}
    paths = write_report(
        tmp_path / "out", rec, accuracy=accuracy, metadata={"bag": "sample_drive", "scene": "traffic"}, budget_ms=100
    )
    report = json.loads(paths.json.read_text())
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["run"]["frames"] == 196
    assert report["run"]["published"] == 196
    assert report["run"]["metadata"] == {"bag": "sample_drive", "scene": "traffic"}
    assert report["run"]["sensor_span_s"] == pytest.approx(19.8)  # frame 199 was dropped
    lat = report["latency_ms"]
    assert list(lat["stages"])[:3] == ["fusion", "hop:/edge_llm/fusion", "roi"]
    e2e = np.array([f.e2e_ms for f in rec.frames])
    assert lat["e2e"]["count"] == 196
    assert lat["e2e"]["p99"] == pytest.approx(np.percentile(e2e, 99), abs=1e-3)
    assert lat["e2e"]["p50"] == pytest.approx(np.percentile(e2e, 50), abs=1e-3)
    assert lat["e2e_p99_within_budget"] is True
    assert report["drops"] == {
        "total": 6,
        "by_reason": {"deadline": 4, "stale": 2},
        "by_stage": {"fusion": 2, "vision": 4},
    }
    assert report["rejected"] == {
        "total": 3,
        "by_topic": {"/camera/image_raw": {"bad_encoding": 1}, "/radar/tracks": {"nan_field": 2}},
    }
    hist = report["batch_size"]["histogram"]
    assert set(hist) <= {"1", "4", "8"} and sum(hist.values()) == report["batch_size"]["batches"] == 196
    assert report["accuracy"]["warning_recall"] == pytest.approx(0.92)

    assert paths.png is not None and paths.png.name == "report_latency.png"
    with Image.open(paths.png) as img:
        assert img.format == "PNG"
        assert img.size == (1200, 800)
        pixels = np.asarray(img.convert("L"))
    assert pixels.std() > 10  # something was drawn, not a blank canvas

    text = format_report(report)
    assert "end-to-end" in text and "deadline 4" in text and "within" in text and "warning_precision: 0.950" in text


def test_empty_run_still_reports(tmp_path: Path) -> None:
    paths = write_report(tmp_path, RunRecorder(), budget_ms=50, stem="empty")
    report = json.loads(paths.json.read_text())
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["latency_ms"]["e2e"]["p99"] is None
    assert report["latency_ms"]["e2e_p99_within_budget"] is None
    assert report["batch_size"]["mean"] is None
    assert paths.png is not None
    with Image.open(paths.png) as img:
        assert img.size == (1200, 800)
    assert "frames 0" in format_report(report)


def test_over_budget_and_unserialisable_accuracy(tmp_path: Path) -> None:
    rec = synthetic_run(20)
    report = build_report(rec, budget_ms=5)
    assert report["latency_ms"]["e2e_p99_within_budget"] is False
    assert "OVER" in format_report(report)
    with pytest.raises(TypeError):
        write_report(tmp_path, rec, accuracy={"model": object()}, plot=False)
    assert write_report(tmp_path, rec, plot=False).png is None
