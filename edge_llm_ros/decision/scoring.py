"""Score decisions against a drive's ground truth (precision/recall of warnings and rejects)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edge_llm_ros.decision.record import DecisionRecord


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
