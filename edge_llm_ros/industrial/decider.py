"""Industrial fast-path decider: classified part crops -> PASS/REJECT per part and for the frame.

Each detection is one fully visible part (roi_preprocess proposes only those; `track_id` is the
part id from the tracker). The classifier reports its top class and that class's probability,
which gives the part's defect probability: 1 - p for "ok", at least p for a defect class. A part
is REJECT when that probability reaches `min_defect_score` (a confident defect), and the frame's
action is REJECT when any part is.

Parts are seen in many frames as the belt carries them through the view. With `memory` > 0 the
decider averages the defect probability over the part's last `memory` observations (its own
frames only, by part id), so one odd view, such as a belt splice showing through a bolt hole,
does not flip a part's verdict. Deterministic: the same sequence of frames gives the same records.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from dataclasses import dataclass

from edge_llm_ros.decision.classified import ClassifiedRoi
from edge_llm_ros.decision.record import DecisionRecord
from edge_llm_ros.fusion.scene import FusedScene
from edge_llm_ros.industrial.classes import OK_CLASS

PASS = "PASS"
REJECT = "REJECT"


@dataclass(frozen=True)
class InspectionConfig:
    """Decision thresholds: the defect probability that rejects a part, and per-part memory."""

    min_defect_score: float = 0.5
    memory: int = 0
    max_parts_remembered: int = 256
    ok_class: str = OK_CLASS

    def __post_init__(self) -> None:
        """Refuse settings that cannot decide, naming the field."""
        if not 0.0 < self.min_defect_score <= 1.0:
            raise ValueError(f"min_defect_score must be within (0, 1], got {self.min_defect_score}")
        if self.memory < 0 or self.max_parts_remembered < 1:
            raise ValueError("memory must be >= 0 and max_parts_remembered >= 1")


def defect_probability(label: str, score: float, ok_class: str = OK_CLASS) -> float:
    """P(defect) from the top class and its probability (a lower bound when the top class is a defect)."""
    return 1.0 - score if label == ok_class else score


def part_id_of(track_id: str | None) -> int | None:
    """The integer part id carried in a detection's id ('' or a non-number: None)."""
    if track_id is None or not track_id.isdigit():
        return None
    return int(track_id)


class IndustrialDecider:
    """One record per frame; keeps a bounded per-part history when `memory` > 0."""

    def __init__(self, config: InspectionConfig | None = None, *, scene: str = "industrial") -> None:
        self.config = config or InspectionConfig()
        #: The scene name its records carry (scenes built on this decider name themselves).
        self.scene = scene
        self.counters: Counter[str] = Counter()
        self._history: OrderedDict[tuple[str, int], deque[tuple[float, str]]] = OrderedDict()

    def _evidence(self, camera: str, part_id: int | None, p_defect: float, label: str) -> tuple[float, str]:
        """(defect probability, defect class) for the part, over its remembered observations."""
        if self.config.memory == 0 or part_id is None:
            return p_defect, label
        key = (camera, part_id)
        history = self._history.get(key)
        if history is None:
            history = self._history[key] = deque(maxlen=self.config.memory)
            while len(self._history) > self.config.max_parts_remembered:
                self._history.popitem(last=False)
        history.append((p_defect, label))
        mean = sum(p for p, _ in history) / len(history)
        defects = Counter(lbl for _, lbl in history if lbl != self.config.ok_class)
        # The reported defect is the one seen most often (earliest first on ties, deterministic).
        label = max(defects, key=lambda k: defects[k]) if defects and mean >= self.config.min_defect_score else label
        return mean, label

    def decide(self, scene: FusedScene, detections: list[ClassifiedRoi]) -> DecisionRecord:
        """PASS/REJECT per part (sorted by part id) and for the frame."""
        objects = []
        rejected = 0
        ranked = sorted(detections, key=lambda d: (part_id_of(d.track_id) is None, part_id_of(d.track_id) or 0))
        for det in ranked:
            part_id = part_id_of(det.track_id)
            p_defect, label = self._evidence(
                scene.camera, part_id, defect_probability(det.label, det.score, self.config.ok_class), det.label
            )
            verdict = REJECT if p_defect >= self.config.min_defect_score else PASS
            if verdict == REJECT:
                rejected += 1
                if label == self.config.ok_class:
                    # The frame's class says ok but the part's history says defect: name it generically.
                    label = "defect"
            elif label != self.config.ok_class:
                self.counters["unconfident_defects"] += 1
            objects.append(
                {
                    "part_id": part_id,
                    "class": label if verdict == REJECT else self.config.ok_class,
                    "camera_class": det.label,
                    "score": round(det.score, 4),
                    "defect_probability": round(p_defect, 4),
                    "verdict": verdict,
                    "bbox": [round(v, 1) for v in det.bbox],
                }
            )
        action = REJECT if rejected else PASS
        return DecisionRecord(
            scene=self.scene,
            stamp_ns=scene.stamp_ns,
            camera=scene.camera,
            action=action,
            level=action,
            objects=objects,
            missing=list(scene.missing),
            timing=dict(scene.timing),
        )
