"""Stable part ids across frames: each part is tracked along the belt's direction of motion.

Parts move rigidly with the belt, so a track's next position is its last box shifted by the belt
velocity times the time between the frames' stamps (a dropped frame only makes the step longer).
Detections are matched to predictions greedily by the smallest residual, within a gate. The
residual compares only box edges that the view does not cut, in both boxes: while a part enters,
its trailing edge sits on the border and only its leading edge moves with the belt (and the
reverse while it leaves), so comparing centres would see a part slide at half speed.

The belt velocity starts from the configured value and follows the measured displacement of
matched parts (exponential average), so a belt that runs a little faster or slower than its
nominal speed keeps its ids. Everything is driven by stamps, never wall time: a replay gives the
same ids every run.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from edge_llm_ros.industrial.segmentation import PartBlob
from edge_llm_ros.roi.boxes import Box

Cut = tuple[bool, bool, bool, bool]


@dataclass(frozen=True)
class TrackerConfig:
    """Belt motion in image pixels per second, the matching gate (px) and track expiry (s)."""

    velocity_px_s: tuple[float, float] = (200.0, 0.0)
    max_match_px: float = 40.0
    max_missed_s: float = 0.5
    velocity_gain: float = 0.2

    def __post_init__(self) -> None:
        """Refuse settings that cannot track, naming the field."""
        if len(self.velocity_px_s) != 2 or not all(math.isfinite(v) for v in self.velocity_px_s):
            raise ValueError(f"velocity_px_s must be two finite numbers, got {self.velocity_px_s}")
        if self.max_match_px <= 0 or self.max_missed_s <= 0:
            raise ValueError("max_match_px and max_missed_s must be > 0")
        if not 0.0 <= self.velocity_gain <= 1.0:
            raise ValueError(f"velocity_gain must be within [0, 1], got {self.velocity_gain}")


@dataclass(frozen=True)
class TrackedPart:
    """A segmented part with its stable id (1, 2, ... in order of first sight) and times seen."""

    part_id: int
    blob: PartBlob
    age: int

    @property
    def bbox(self) -> Box:
        """The part's box in this frame."""
        return self.blob.bbox

    @property
    def fully_visible(self) -> bool:
        """The whole part is in view (only then is it inspected)."""
        return self.blob.fully_visible


@dataclass
class _Track:
    part_id: int
    box: Box
    cut: Cut
    last_stamp_ns: int
    age: int = 1


class PartTracker:
    """Assigns ids to each frame's blobs; one tracker per camera."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.velocity = (float(self.config.velocity_px_s[0]), float(self.config.velocity_px_s[1]))
        self.counters: Counter[str] = Counter()
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_stamp_ns: int | None = None

    @property
    def active_tracks(self) -> int:
        """Tracks currently alive."""
        return len(self._tracks)

    def update(self, stamp_ns: int, blobs: list[PartBlob]) -> list[TrackedPart]:
        """Match `blobs` of the frame at `stamp_ns` to tracks; returns them with ids, in input order.

        A frame not newer than the last one cannot be placed on the belt's timeline: it is counted
        and gets no parts (fusion already drops out-of-order frames upstream).
        """
        if self._last_stamp_ns is not None and stamp_ns <= self._last_stamp_ns:
            self.counters["dropped_out_of_order:parts"] += 1
            return []
        self._last_stamp_ns = stamp_ns
        max_missed_ns = self.config.max_missed_s * 1e9
        self._tracks = [t for t in self._tracks if stamp_ns - t.last_stamp_ns <= max_missed_ns]
        candidates: list[tuple[float, int, int, float, float, bool]] = []
        for ti, track in enumerate(self._tracks):
            dt = (stamp_ns - track.last_stamp_ns) / 1e9
            predicted = _shift(track.box, self.velocity[0] * dt, self.velocity[1] * dt)
            for bi, blob in enumerate(blobs):
                rx, ry, exact = _residual(predicted, track.cut, blob.bbox, blob.cut)
                cost = math.hypot(rx, ry)
                if cost <= self.config.max_match_px:
                    candidates.append((cost, ti, bi, rx, ry, exact))
        # Greedy on the smallest residual; ties broken by track then blob index (deterministic).
        candidates.sort(key=lambda c: (c[0], c[1], c[2]))
        used_tracks: set[int] = set()
        assigned: dict[int, _Track] = {}
        for _cost, ti, bi, rx, ry, exact in candidates:
            if ti in used_tracks or bi in assigned:
                continue
            used_tracks.add(ti)
            track = self._tracks[ti]
            if exact:
                self._learn_velocity((stamp_ns - track.last_stamp_ns) / 1e9, rx, ry)
            track.box, track.cut = blobs[bi].bbox, blobs[bi].cut
            track.last_stamp_ns = stamp_ns
            track.age += 1
            assigned[bi] = track
        out = []
        for bi, blob in enumerate(blobs):
            found = assigned.get(bi)
            if found is None:
                found = _Track(self._next_id, blob.bbox, blob.cut, stamp_ns)
                self._next_id += 1
                self._tracks.append(found)
                self.counters["new_parts"] += 1
            out.append(TrackedPart(found.part_id, blob, found.age))
        return out

    def _learn_velocity(self, dt: float, rx: float, ry: float) -> None:
        gain = self.config.velocity_gain
        if dt <= 0 or gain == 0:
            return
        # The residual is the prediction's error, so velocity + residual / dt is what was measured.
        vx, vy = self.velocity
        self.velocity = (vx + gain * rx / dt, vy + gain * ry / dt)


def _residual(predicted: Box, predicted_cut: Cut, box: Box, cut: Cut) -> tuple[float, float, bool]:
    """(dx, dy) of `box` from `predicted`, each from the edges that neither box has cut.

    An axis with no edge real in both boxes (a part longer than the view, or one box cut on each
    side) falls back to the centres; the flag says whether both axes were measured on real edges,
    i.e. whether the residual is good enough to learn the belt velocity from.
    """
    out: list[float] = []
    exact = True
    for low, high in ((0, 2), (1, 3)):
        diffs = [box[i] - predicted[i] for i in (low, high) if not (predicted_cut[i] or cut[i])]
        if diffs:
            out.append(sum(diffs) / len(diffs))
        else:
            out.append((box[low] + box[high] - predicted[low] - predicted[high]) / 2)
            exact = False
    return out[0], out[1], exact


def _shift(box: Box, dx: float, dy: float) -> Box:
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)
