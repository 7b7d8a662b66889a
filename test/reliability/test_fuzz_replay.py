"""CI-sized fuzz campaign: a real drive with thousands of malformed samples through the real pipeline.

Closed loop on the inproc transport (deterministic): every valid frame must be decided exactly as
in the clean run, nothing else decided, nothing crash, and every malformed sample be counted as
rejected by topic and reason in the replay report, in Prometheus and in /diagnostics.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edge_llm_ros.app.replay.fuzz import FuzzConfig, compare, replay_with_fuzz
from edge_llm_ros.app.replay.report import write_replay_report
from edge_llm_ros.app.replay.session import ReplayOptions
from edge_llm_ros.models.store import ModelStore

pytestmark = pytest.mark.slow
TOPICS = {"/camera/image_raw", "/camera/camera_info", "/radar/tracks", "/gps/fix"}


def test_malformed_inputs_are_rejected_counted_and_never_change_decisions(
    short_drive: Path, sample_model_store: ModelStore, tmp_path: Path
) -> None:
    options = ReplayOptions(bag=short_drive, model_store=str(sample_model_store.root), person_detector=False)
    clean = replay_with_fuzz(options, None)
    fuzzed = replay_with_fuzz(options, FuzzConfig(seed=11, per_sample=16.0), observe=True)
    result = compare(clean, fuzzed)

    assert clean.crashes == [] and fuzzed.crashes == []
    assert result.valid_frames == 30 and result.malformed_sent >= 2000
    assert result.undecided == [] and result.differing == [] and result.extra_decisions == 0
    assert result.identical == 30
    # Every malformed sample is accounted for, on each of the four input topics, with reasons.
    assert result.unaccounted == {}
    assert {topic for topic, _ in result.rejected} == TOPICS
    reasons = {reason for _, reason in result.rejected}
    assert {"decode", "second_source", "time_jump", "frame_id", "intrinsics_changed", "geometry"} <= reasons

    # Replay report: the `rejected` section has them by topic and reason (issue 15: it said 0).
    _paths, report, _table = write_replay_report(
        fuzzed.result, tmp_path, scene="traffic", batch_sizes={}, counters=fuzzed.counters, metadata={}
    )
    saved = json.loads((tmp_path / "report.json").read_text())["rejected"]
    assert saved == report["rejected"]
    assert saved["total"] == result.malformed_sent
    assert set(saved["by_topic"]) == TOPICS
    assert saved["by_topic"]["/radar/tracks"]["geometry"] == result.rejected[("/radar/tracks", "geometry")]

    # Prometheus: edge_llm_rejected_inputs_total{node, topic, reason}; the fusion node sees them all.
    fusion_prom: dict[tuple[str, str], float] = {}
    pattern = re.compile(r'^edge_llm_rejected_inputs_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$')
    for line in fuzzed.prometheus.splitlines():
        if (m := pattern.match(line)) is not None:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m["labels"]))
            if labels["node"] == "sensor_fusion":
                fusion_prom[(labels["topic"], labels["reason"])] = float(m["value"])
    assert fusion_prom == {k: float(v) for k, v in fuzzed.counters_by_node("sensor_fusion").items()}
    assert sum(fusion_prom.values()) == result.malformed_sent

    # /diagnostics: each node's rejected_inputs status lists them by topic and reason.
    status = next(v for k, v in fuzzed.diagnostics.items() if k.endswith("rejected_inputs") and "sensor_fusion" in k)
    assert int(status["/radar/tracks geometry"].split()[0]) == result.rejected[("/radar/tracks", "geometry")]
