import pytest

from edge_llm_ros.decision.classified import ClassifiedRoi
from edge_llm_ros.decision.record import DecisionDecodeError, DecisionRecord
from edge_llm_ros.decision.scoring import score_traffic
from edge_llm_ros.decision.traffic import TrafficDecider
from edge_llm_ros.decision.traffic_rules import TrafficRuleConfig, WarningLevel, object_warning
from edge_llm_ros.fusion.scene import FusedScene, RadarObject
from edge_llm_ros.roi.boxes import iou
from edge_llm_ros.roi.proposals import RoiConfig, propose

RULES = TrafficRuleConfig()


def obj(track: str, bbox, rng: float, ttc: float | None, lane: bool = True) -> RadarObject:
    return RadarObject(track, 2, (rng, 0.0, 0.0), (-5.0, 0.0, 0.0), (4.5, 1.8, 1.5), rng, -5.0, ttc, 0.0, lane, bbox)


def scene(*objects: RadarObject) -> FusedScene:
    return FusedScene(1_000, "cam", 640, 480, list(objects))


def test_rule_levels() -> None:
    assert object_warning("car", 1.0, True, 10.0, RULES) is WarningLevel.BRAKE
    assert object_warning("car", 3.0, True, 20.0, RULES) is WarningLevel.CAUTION
    assert object_warning("car", 3.0, False, 20.0, RULES) is WarningLevel.NONE
    assert object_warning("car", None, True, 5.0, RULES) is WarningLevel.NONE
    assert object_warning("person", 2.2, True, 20.0, RULES) is WarningLevel.BRAKE  # scaled threshold
    assert object_warning("person", 9.0, False, 8.0, RULES) is WarningLevel.CAUTION


def test_proposals_merge_detector_and_radar() -> None:
    s = scene(obj("a", (100, 100, 200, 300), 20.0, 4.0), obj("b", (400, 100, 450, 150), 40.0, None))
    persons = [((105.0, 110.0, 195.0, 290.0), 0.9), ((500.0, 300.0, 560.0, 420.0), 0.8)]
    rois = propose(s, persons, RoiConfig(margin=0.0))
    assert [r.source for r in rois] == ["radar+detector", "radar", "detector"]
    assert rois[0].track_id == "a" and rois[0].bbox == (105.0, 110.0, 195.0, 290.0)
    assert len(propose(s, persons, RoiConfig(max_rois=1))) == 1
    tiny = scene(obj("t", (10, 10, 14, 14), 80.0, None))
    assert propose(tiny, [], RoiConfig()) == []
    clipped = propose(scene(obj("c", (600, 400, 640, 480), 10.0, None)), [], RoiConfig(margin=0.5))
    assert clipped[0].bbox[2] <= 640 and clipped[0].bbox[3] <= 480
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)


def test_decider_is_deterministic_and_uses_classes() -> None:
    s = scene(obj("a", (100, 100, 200, 300), 8.0, 2.0), obj("b", (300, 100, 350, 150), 30.0, None, lane=False))
    dets = [ClassifiedRoi("a", "person", 0.9, (100, 100, 200, 300)), ClassifiedRoi(None, "car", 0.6, (0, 0, 50, 50))]
    decider = TrafficDecider(RULES)
    first, second = decider.decide(s, dets), decider.decide(s, dets)
    assert first.decision_key() == second.decision_key()
    assert first.level == "BRAKE" and first.action == "BRAKE"
    assert [o["class"] for o in first.objects] == ["person", "other", "car"]
    car_only = decider.decide(s, [ClassifiedRoi("a", "car", 0.9, (100, 100, 200, 300))])
    assert car_only.level == "CAUTION"
    assert DecisionRecord.from_json(first.to_json()).decision_key() == first.decision_key()
    with pytest.raises(DecisionDecodeError):
        DecisionRecord.from_json('{"schema": "x"}')


def test_scoring_counts_missing_frames_as_misses() -> None:
    d = [DecisionRecord("traffic", 1, "cam", "BRAKE", "BRAKE"), DecisionRecord("traffic", 2, "cam", "CONTINUE", "NONE")]
    truth = {1: {"warning": "BRAKE"}, 2: {"warning": "CAUTION"}, 3: {"warning": "NONE"}, 4: {"warning": "BRAKE"}}
    s = score_traffic(d, truth)
    assert s["warning"]["tp"] == 1 and s["warning"]["fn"] == 2 and s["warning"]["precision"] == 1.0
    assert s["confusion"]["BRAKE->MISSING"] == 1 and s["decided"] == 2


def test_class_fusion_is_safety_first() -> None:
    decider = TrafficDecider(RULES, min_score=0.3, radar_classes={32000: "car", 32004: "person"})
    person_radar = RadarObject(
        "p", 32004, (10.0, 0.0, 0.0), (-5.0, 0.0, 0.0), (0.5, 0.5, 1.7), 10.0, -5.0, 2.0, 0.0, True, None
    )
    s = scene(person_radar)
    record = decider.decide(s, [ClassifiedRoi("p", "car", 0.9, (0, 0, 10, 10))])
    assert record.objects[0]["class"] == "person" and record.objects[0]["class_source"] == "radar"
    assert record.level == "BRAKE"  # TTC 2.0 s is under the scaled person threshold
    unknown = decider.fuse_class(ClassifiedRoi("x", "truck", 0.1, (0, 0, 1, 1)), 32000)
    assert unknown == ("car", "radar")  # low-confidence camera label loses to the radar class
    assert decider.fuse_class(ClassifiedRoi("x", "truck", 0.8, (0, 0, 1, 1)), 32000) == ("truck", "camera")
    assert decider.fuse_class(None, 0) == ("other", "none")
