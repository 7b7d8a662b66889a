"""score_industrial: REJECT precision/recall per part observation, per part, per frame."""

from __future__ import annotations

from typing import Any

from edge_llm_ros.decision.record import DecisionRecord
from edge_llm_ros.decision.scoring import score_industrial


def gt_part(part_id: int, box: list[float], defect: str = "none", whole: bool = True) -> dict[str, Any]:
    return {
        "part_id": part_id,
        "kind": "disc",
        "bbox_xyxy": box,
        "fully_visible": whole,
        "defect": defect,
        "defect_bbox_xyxy": None,
        "verdict": "PASS" if defect == "none" else "REJECT",
    }


def truth(stamp: int, *parts: dict[str, Any]) -> dict[str, Any]:
    return {"stamp_ns": stamp, "scene": "industrial", "parts": list(parts)}


def decided(stamp: int, *objects: tuple[int, list[float], str, str]) -> DecisionRecord:
    objs = [
        {"part_id": pid, "class": cls, "score": 0.9, "verdict": verdict, "bbox": box}
        for pid, box, cls, verdict in objects
    ]
    action = "REJECT" if any(o["verdict"] == "REJECT" for o in objs) else "PASS"
    return DecisionRecord("industrial", stamp, "camera", action, action, objs)


A = [100.0, 100.0, 200.0, 200.0]
A_CROP = [96.0, 96.0, 204.0, 204.0]  # the part box grown by 4 % per side: IoU 0.86
B = [300.0, 150.0, 420.0, 250.0]
EDGE = [600.0, 100.0, 640.0, 200.0]


def test_perfect_decisions_score_one() -> None:
    gt = {1: truth(1, gt_part(1, A, "crack"), gt_part(2, B)), 2: truth(2, gt_part(2, B))}
    decisions = [decided(1, (7, A_CROP, "crack", "REJECT"), (8, B, "ok", "PASS")), decided(2, (8, B, "ok", "PASS"))]
    score = score_industrial(decisions, gt)
    assert score["reject"] == {"tp": 1, "fp": 0, "fn": 0, "tn": 2, "precision": 1.0, "recall": 1.0}
    assert score["frame_reject"]["tp"] == 1 and score["frame_reject"]["tn"] == 1
    assert score["part_verdicts"] == {"tp": 1, "fp": 0, "fn": 0, "tn": 1, "precision": 1.0, "recall": 1.0}
    assert score["confusion"] == {"crack->crack": 1, "none->ok": 2}
    assert (score["frames"], score["decided"], score["parts_not_found"], score["parts_spurious"]) == (2, 2, 0, 0)


def test_misses_false_alarms_and_undecided_frames() -> None:
    gt = {
        1: truth(1, gt_part(1, A, "dent"), gt_part(2, B)),  # dent passed, good part rejected
        2: truth(2, gt_part(1, A, "dent")),  # no decision at all for this frame
        3: truth(3, gt_part(3, B, "scratch")),  # the part is not found, a box on empty belt is rejected
    }
    decisions = [
        decided(1, (1, A, "ok", "PASS"), (2, B, "scratch", "REJECT")),
        decided(3, (9, [10.0, 10.0, 60.0, 60.0], "dent", "REJECT")),
    ]
    score = score_industrial(decisions, gt)
    assert score["reject"] == {"tp": 0, "fp": 2, "fn": 3, "tn": 0, "precision": 0.0, "recall": 0.0}
    assert (score["parts_not_found"], score["parts_spurious"], score["decided"]) == (2, 1, 2)
    frames = score["frame_reject"]
    assert (frames["tp"], frames["fp"], frames["fn"]) == (2, 0, 1)  # REJECT for the wrong part still counts
    assert score["part_verdicts"]["fn"] == 2 and score["part_verdicts"]["fp"] == 1


def test_parts_cut_by_the_border_are_not_scored() -> None:
    gt = {1: truth(1, gt_part(4, EDGE, "crack", whole=False), gt_part(5, A))}
    # Deciding on the cut-off part (either way) is neither right nor wrong; not deciding is fine too.
    for objects in ([(4, EDGE, "crack", "REJECT"), (5, A, "ok", "PASS")], [(5, A, "ok", "PASS")]):
        score = score_industrial([decided(1, *objects)], gt)
        assert score["reject"] == {"tp": 0, "fp": 0, "fn": 0, "tn": 1, "precision": None, "recall": None}
        assert score["frame_reject"]["fp"] == (1 if len(objects) == 2 else 0)
        assert score["parts_spurious"] == 0


def test_a_part_verdict_is_the_majority_of_its_frames() -> None:
    gt = {s: truth(s, gt_part(6, A, "missing_hole")) for s in (1, 2, 3)}
    decisions = [
        decided(1, (6, A, "missing_hole", "REJECT")),
        decided(2, (6, A, "ok", "PASS")),
        decided(3, (6, A, "missing_hole", "REJECT")),
    ]
    score = score_industrial(decisions, gt)
    assert score["reject"]["tp"] == 2 and score["reject"]["fn"] == 1
    assert score["part_verdicts"]["tp"] == 1
