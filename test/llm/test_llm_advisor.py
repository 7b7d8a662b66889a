"""SceneAdvisor end to end on the tiny model: scene in, validated advisory record out."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from edge_llm_ros.llm.advisor import AdvisorConfig, AdvisoryRecord, SceneAdvisor, monotonic_deadline
from edge_llm_ros.llm.batcher import LlmBatcherConfig
from edge_llm_ros.llm.engine import LlmConfigError
from edge_llm_ros.llm.prompt import SceneObject, SceneSummary

SCENES = [
    SceneSummary("traffic", 10.0, (SceneObject(3, "person", 12.0, 1.5, "ego"), SceneObject(8, "car", 30.0)), 100),
    SceneSummary("traffic", 20.0, (), 200),
    SceneSummary("industrial", None, (SceneObject(5, "scratch"),), 300),
]


class Collected:
    def __init__(self) -> None:
        self.records: list[AdvisoryRecord] = []
        self.drops: list[str] = []
        self.lock = threading.Lock()

    def record(self, record: AdvisoryRecord) -> None:
        with self.lock:
            self.records.append(record)

    def drop(self, reason: str) -> None:
        with self.lock:
            self.drops.append(reason)


def advisor_config(model_dir: Path, **overrides: object) -> AdvisorConfig:
    batcher = LlmBatcherConfig(max_batch=4, max_queue_delay_s=0.3, deadline_s=60, max_new_tokens=400)
    return AdvisorConfig(model_dir, batcher=batcher, **overrides)  # type: ignore[arg-type]


def test_scenes_become_validated_advisories_linked_by_stamp(tiny_model_dir: Path) -> None:
    pytest.importorskip("llguidance")
    advisor = SceneAdvisor(advisor_config(tiny_model_dir))
    out = Collected()
    try:
        for scene in SCENES:
            assert advisor.advise(scene, out.record, out.drop)
        assert advisor.wait_idle(60)
    finally:
        advisor.close()
    assert not out.drops
    by_stamp = {r.stamp_ns: r for r in out.records}
    assert sorted(by_stamp) == [100, 200, 300]
    assert by_stamp[100].advisory.action in ("CONTINUE", "SLOW_DOWN", "BRAKE")
    assert set(by_stamp[100].advisory.objects_of_concern) <= {3, 8}
    assert by_stamp[200].advisory.objects_of_concern == ()  # nothing in the scene to name
    assert by_stamp[300].advisory.action in ("PASS", "REJECT")
    data = json.loads(by_stamp[300].to_json())
    assert data["schema"] == "edge_llm_ros/advisory_record/1" and data["stamp_ns"] == 300
    assert data["advisory"]["schema_id"] == "edge_llm_ros/advisory/1"
    assert data["latency_s"] > 0 and data["model"] == tiny_model_dir.name
    assert advisor.stats()["served"] == 3


def test_invalid_output_never_reaches_the_callback(tiny_model_dir: Path) -> None:
    advisor = SceneAdvisor(advisor_config(tiny_model_dir, guidance="off"))
    out = Collected()
    try:
        for scene in SCENES:
            advisor.advise(scene, out.record, out.drop)
        assert advisor.wait_idle(60)
    finally:
        advisor.close()
    assert not out.records and out.drops == ["invalid"] * 3
    assert advisor.stats()["rejected_invalid"] == 3


def test_expired_deadline_is_dropped(tiny_model_dir: Path) -> None:
    advisor = SceneAdvisor(advisor_config(tiny_model_dir, warmup=False))
    out = Collected()
    try:
        advisor.advise(SCENES[0], out.record, out.drop, deadline_ns=monotonic_deadline(-1.0))
        assert advisor.wait_idle(10)
    finally:
        advisor.close()
    assert out.drops == ["deadline"] and advisor.stats()["cancelled_deadline"] == 1


def test_configure_errors_name_the_problem(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(LlmConfigError, match="does not exist"):
        SceneAdvisor(advisor_config(tmp_path / "missing"))
    with pytest.raises(ValueError, match="weather"):
        SceneAdvisor(advisor_config(tiny_model_dir, template="$scene $weather", warmup=False))
    with pytest.raises(LlmConfigError, match="advisory schema"):
        SceneAdvisor(advisor_config(tiny_model_dir, schema_path=tmp_path / "none.json", warmup=False))
