"""Everything a replay report needs from a run: frame timings, batch sizes, drops, rejections."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from edge_llm_ros.telemetry.latency_stats import LatencyBook
from edge_llm_ros.telemetry.stamps import FrameTiming


@dataclass(frozen=True)
class FramePoint:
    """One frame as the report plots it: when it was sensed and how long each part took (ms)."""

    sensor_stamp_ns: int
    e2e_ms: float | None
    stages_ms: dict[str, float]


class RunRecorder:
    """Accumulates a bounded run (a bag replay) for `report.build_report`; thread-safe."""

    def __init__(self) -> None:
        self.latency = LatencyBook()
        self.frames: list[FramePoint] = []
        self.batch_sizes: Counter[int] = Counter()
        self.drops: Counter[str] = Counter()
        self.drops_by_stage: Counter[str] = Counter()
        self.rejected: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def add_frame(self, timing: FrameTiming) -> None:
        """Record a frame's timing (usually at decision publish, after `mark_published`)."""
        point = FramePoint(
            sensor_stamp_ns=timing.sensor_stamp_ns,
            e2e_ms=None if timing.published_ns is None else timing.e2e_ns() / 1e6,
            stages_ms={k: v / 1e6 for k, v in timing.stage_durations_ns().items()},
        )
        with self._lock:
            self.latency.add_frame(timing)
            self.frames.append(point)

    def add_batch(self, size: int) -> None:
        """Record one engine batch of `size` requests."""
        if size < 1:
            raise ValueError(f"batch size must be >= 1, got {size}")
        with self._lock:
            self.batch_sizes[int(size)] += 1

    def drop(self, reason: str, count: int = 1, stage: str | None = None) -> None:
        """Record `count` drops for `reason`, optionally attributed to `stage`."""
        with self._lock:
            self.drops[str(reason)] += count
            if stage is not None:
                self.drops_by_stage[stage] += count

    def reject(self, topic: str, reason: str, count: int = 1) -> None:
        """Record `count` rejected inputs on `topic` for `reason`."""
        with self._lock:
            self.rejected[(topic, reason)] += count
