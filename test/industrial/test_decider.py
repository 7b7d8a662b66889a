"""The industrial decider: per-part PASS/REJECT from classified crops, frame action, part memory."""

from __future__ import annotations

import pytest

from edge_llm_ros.decision.classified import ClassifiedRoi
from edge_llm_ros.decision.record import DecisionRecord
from edge_llm_ros.fusion.scene import FusedScene
from edge_llm_ros.industrial.decider import (
    IndustrialDecider,
    InspectionConfig,
    defect_probability,
    part_id_of,
)


def scene(stamp: int = 1_000, camera: str = "camera") -> FusedScene:
    return FusedScene(stamp, camera, 640, 480, missing=["radar", "gps"], timing={"fusion": (1, 2)})


def roi(part: str | None, label: str, score: float, x: float = 100.0) -> ClassifiedRoi:
    return ClassifiedRoi(part, label, score, (x, 100.0, x + 120.0, 220.0))


def test_a_confident_defect_rejects_the_part_and_the_frame() -> None:
    decider = IndustrialDecider(InspectionConfig(min_defect_score=0.5))
    record = decider.decide(scene(), [roi("7", "scratch", 0.93), roi("5", "ok", 0.98, x=300.0)])
    assert (record.scene, record.action, record.level) == ("industrial", "REJECT", "REJECT")
    assert [o["part_id"] for o in record.objects] == [5, 7]  # by part id
    ok, bad = record.objects
    assert (ok["class"], ok["verdict"], ok["score"]) == ("ok", "PASS", 0.98)
    assert (bad["class"], bad["verdict"], bad["defect_probability"]) == ("scratch", "REJECT", 0.93)
    assert bad["bbox"] == [100.0, 100.0, 220.0, 220.0]
    assert record.missing == ["radar", "gps"] and record.timing == {"fusion": (1, 2)}
    assert DecisionRecord.from_json(record.to_json()) == record


def test_good_parts_and_unconfident_defects_pass() -> None:
    decider = IndustrialDecider(InspectionConfig(min_defect_score=0.6))
    record = decider.decide(scene(), [roi("1", "ok", 0.9), roi("2", "dent", 0.55)])
    assert record.action == "PASS"
    assert [(o["class"], o["camera_class"], o["verdict"]) for o in record.objects] == [
        ("ok", "ok", "PASS"),
        ("ok", "dent", "PASS"),
    ]
    assert decider.counters["unconfident_defects"] == 1
    # An empty belt passes.
    assert decider.decide(scene(), []).action == "PASS"


def test_an_unsure_ok_is_a_defect_probability() -> None:
    # Top class "ok" at 0.3 leaves 0.7 to the defect classes together: that part is rejected.
    assert defect_probability("ok", 0.3) == pytest.approx(0.7)
    assert defect_probability("crack", 0.8) == 0.8
    record = IndustrialDecider().decide(scene(), [roi("3", "ok", 0.3)])
    assert record.action == "REJECT" and record.objects[0]["class"] == "defect"


def test_memory_averages_a_part_over_its_own_frames() -> None:
    decider = IndustrialDecider(InspectionConfig(min_defect_score=0.5, memory=4))
    verdicts = []
    for stamp, label, score in ((1, "crack", 0.9), (2, "crack", 0.8), (3, "ok", 0.9), (4, "ok", 0.95)):
        record = decider.decide(scene(stamp), [roi("9", label, score), roi("10", "ok", 0.99, x=400.0)])
        verdicts.append((record.objects[0]["verdict"], record.objects[0]["class"], record.objects[1]["verdict"]))
    # One odd good-looking view of a cracked part does not pass it; part 10 is judged on its own.
    assert verdicts[:3] == [("REJECT", "crack", "PASS")] * 3
    assert verdicts[3] == ("PASS", "ok", "PASS")  # (0.9 + 0.8 + 0.1 + 0.05) / 4 < 0.5
    # Same part id on another camera is another part.
    other = decider.decide(scene(5, camera="camera2"), [roi("9", "ok", 0.9)])
    assert other.objects[0]["verdict"] == "PASS"


def test_part_ids_and_config_checks() -> None:
    assert part_id_of("12") == 12 and part_id_of(None) is None and part_id_of("abc") is None
    record = IndustrialDecider().decide(scene(), [roi(None, "dent", 0.9), roi("4", "ok", 0.9)])
    assert [o["part_id"] for o in record.objects] == [4, None]
    with pytest.raises(ValueError, match="min_defect_score"):
        InspectionConfig(min_defect_score=0.0)
    with pytest.raises(ValueError, match="memory"):
        InspectionConfig(memory=-1)
