"""Score decisions against a drive's ground truth (precision/recall of warnings and rejects)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edge_llm_ros.decision.record import DecisionRecord
from edge_llm_ros.roi.boxes import Box, iou


@dataclass(frozen=True)
class BinaryScore:
    """Counts and rates for one positive class."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float | None:
        """Tp / (tp + fp); None when nothing was predicted positive."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        """Tp / (tp + fn); None when nothing was positive."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": self.precision,
            "recall": self.recall,
        }


def score_traffic(decisions: Iterable[DecisionRecord], truth: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """Frame-level warning scores: positive = any warning (CAUTION or BRAKE), plus BRAKE alone.

    `truth` maps a camera frame stamp (ns) to its ground-truth record (with a 'warning' level).
    Frames with no decision count as missed: a dropped frame is a failure, not an abstention.
    """
    by_stamp = {d.stamp_ns: d for d in decisions}
    warn = Counter[str]()
    brake = Counter[str]()
    confusion: Counter[str] = Counter()
    for stamp, gt in truth.items():
        expected = str(gt["warning"])
        decided = by_stamp[stamp].level if stamp in by_stamp else "MISSING"
        confusion[f"{expected}->{decided}"] += 1
        for counter, positive in ((warn, lambda lv: lv in ("CAUTION", "BRAKE")), (brake, lambda lv: lv == "BRAKE")):
            e, d = positive(expected), positive(decided)
            counter["tp" if e and d else "fp" if d else "fn" if e else "tn"] += 1
    warning = BinaryScore(warn["tp"], warn["fp"], warn["fn"], warn["tn"])
    braking = BinaryScore(brake["tp"], brake["fp"], brake["fn"], brake["tn"])
    return {
        "frames": len(truth),
        "decided": sum(1 for s in truth if s in by_stamp),
        "warning": warning.to_dict(),
        "brake": braking.to_dict(),
        "confusion": dict(sorted(confusion.items())),
    }


def _box(values: Sequence[float]) -> Box:
    return (float(values[0]), float(values[1]), float(values[2]), float(values[3]))


def _match_parts(
    decided: Sequence[Mapping[str, Any]], truth: Sequence[Mapping[str, Any]], min_iou: float
) -> tuple[dict[int, int], list[int]]:
    """Greedy one-to-one matching by IoU (best pairs first): {decided index: truth index}, unmatched decided."""
    pairs = sorted(
        (
            (-iou(_box(d["bbox"]), _box(t["bbox_xyxy"])), di, ti)
            for di, d in enumerate(decided)
            for ti, t in enumerate(truth)
            if d.get("bbox") is not None and t.get("bbox_xyxy") is not None
        ),
    )
    matched: dict[int, int] = {}
    used: set[int] = set()
    for negative_iou, di, ti in pairs:
        if -negative_iou < min_iou:
            break
        if di in matched or ti in used:
            continue
        matched[di] = ti
        used.add(ti)
    return matched, [di for di in range(len(decided)) if di not in matched]


def _count(counter: Counter[str], expected: bool, decided: bool) -> None:
    counter["tp" if expected and decided else "fp" if decided else "fn" if expected else "tn"] += 1


def score_industrial(
    decisions: Iterable[DecisionRecord], truth: Mapping[int, Mapping[str, Any]], min_iou: float = 0.5
) -> dict[str, Any]:
    """REJECT scores per part observation, per physical part and per frame.

    Parts: in every frame, each fully visible ground-truth part (the ones that can be inspected)
    is matched to a decided part by box IoU >= `min_iou`. A ground-truth REJECT decided REJECT
    is a tp; decided PASS, not found, or in a frame with no decision, a fn. A decided REJECT on a
    good part, or on a box that is no part at all, is a fp. A decided part matched to a part that
    is only partly in view is not scored (the border decides whether it counts as whole).
    Part verdicts: one per ground-truth part id over the run: REJECT when at least half of its
    decided observations were REJECT; a part never decided counts as PASS.
    Frames: positive when any fully visible part is REJECT; decided positive when the action is
    REJECT. `confusion` counts ground-truth defect -> decided class over matched observations.
    """
    by_stamp = {d.stamp_ns: d for d in decisions}
    parts: Counter[str] = Counter()
    frames: Counter[str] = Counter()
    confusion: Counter[str] = Counter()
    votes: dict[int, list[bool]] = {}
    expected_part: dict[int, bool] = {}
    missed_parts = spurious_parts = 0
    for stamp, gt in sorted(truth.items()):
        whole = [p for p in gt.get("parts", []) if p.get("fully_visible")]
        everything = list(gt.get("parts", []))
        decision = by_stamp.get(stamp)
        decided = [o for o in (decision.objects if decision is not None else []) if o.get("verdict")]
        frame_expected = any(p["verdict"] == "REJECT" for p in whole)
        _count(frames, frame_expected, decision is not None and decision.action == "REJECT")
        matched, unmatched = _match_parts(decided, everything, min_iou)
        found: set[int] = set()
        for di, ti in matched.items():
            gt_part, obj = everything[ti], decided[di]
            if not gt_part.get("fully_visible"):
                continue
            found.add(ti)
            rejected = obj["verdict"] == "REJECT"
            _count(parts, gt_part["verdict"] == "REJECT", rejected)
            confusion[f"{gt_part['defect']}->{obj.get('class')}"] += 1
            votes.setdefault(int(gt_part["part_id"]), []).append(rejected)
        for ti, gt_part in enumerate(everything):
            if gt_part.get("fully_visible") and ti not in found:
                missed_parts += 1
                _count(parts, gt_part["verdict"] == "REJECT", False)
        for di in unmatched:
            spurious_parts += 1
            _count(parts, False, decided[di]["verdict"] == "REJECT")
        for gt_part in whole:
            expected_part[int(gt_part["part_id"])] = gt_part["verdict"] == "REJECT"
    verdicts: Counter[str] = Counter()
    for part_id, expected in sorted(expected_part.items()):
        seen = votes.get(part_id, [])
        _count(verdicts, expected, bool(seen) and 2 * sum(seen) >= len(seen))
    return {
        "frames": len(truth),
        "decided": sum(1 for s in truth if s in by_stamp),
        "parts_inspectable": sum(parts.values()) - spurious_parts,
        "parts_not_found": missed_parts,
        "parts_spurious": spurious_parts,
        "reject": BinaryScore(parts["tp"], parts["fp"], parts["fn"], parts["tn"]).to_dict(),
        "part_verdicts": BinaryScore(verdicts["tp"], verdicts["fp"], verdicts["fn"], verdicts["tn"]).to_dict(),
        "frame_reject": BinaryScore(frames["tp"], frames["fp"], frames["fn"], frames["tn"]).to_dict(),
        "confusion": dict(sorted(confusion.items())),
    }
