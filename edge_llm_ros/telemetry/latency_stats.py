"""Streaming latency percentiles (p50/p95/p99/max/mean, count) for stages and end-to-end.

Runs are bounded (a replay of a bag, a benchmark), so the samples themselves are kept in a numpy
buffer and percentiles are exact (numpy's default linear interpolation). A long-running node
gives a `window` instead: the buffer becomes a ring of the most recent samples, percentiles
describe that window, and `count`/`total` stay lifetime totals (what a Prometheus summary's
``_count``/``_sum`` need).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from edge_llm_ros.telemetry.stamps import FrameTiming

E2E = "e2e"
QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class LatencySummary:
    """Percentile summary of one latency series (unit: whatever was added, ms in a LatencyBook)."""

    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float
    min: float

    @classmethod
    def empty(cls) -> LatencySummary:
        """The summary of no samples: count 0, every figure NaN."""
        nan = float("nan")
        return cls(0, nan, nan, nan, nan, nan, nan)

    def to_dict(self, ndigits: int = 3) -> dict[str, float | int | None]:
        """JSON-ready dict; NaN (no samples) becomes None because JSON has no NaN."""
        out: dict[str, float | int | None] = {}
        for key, value in asdict(self).items():
            if key == "count":
                out[key] = int(value)
            else:
                out[key] = None if np.isnan(value) else round(float(value), ndigits)
        return out


def percentiles(
    values: Iterable[float], qs: Sequence[float] = (50, 99), ndigits: int = 2
) -> dict[str, float | int | None]:
    """n, p<q> for each q in `qs` (percent), max and mean of a finished series, rounded; None when empty.

    The one summary of a plain list of figures (benches, reports); LatencyStats is the streaming one.
    """
    arr = np.asarray(list(values), dtype=np.float64)
    keys = [f"p{q:g}" for q in qs]
    if arr.size == 0:
        return {"n": 0, **dict.fromkeys(keys), "max": None, "mean": None}
    out: dict[str, float | int | None] = {"n": int(arr.size)}
    for key, q in zip(keys, qs, strict=True):
        out[key] = round(float(np.percentile(arr, q)), ndigits)
    out["max"] = round(float(arr.max()), ndigits)
    out["mean"] = round(float(arr.mean()), ndigits)
    return out


class LatencyStats:
    """A thread-safe sample store with exact percentiles; optionally a sliding window."""

    def __init__(self, window: int | None = None, initial_capacity: int = 1024) -> None:
        if window is not None and window < 1:
            raise ValueError("window must be >= 1 or None")
        self._window = window
        capacity = window if window is not None else max(16, initial_capacity)
        self._buf = np.empty(capacity, dtype=np.float64)
        self._size = 0  # samples retained
        self._head = 0  # next write position in ring mode
        self._count = 0
        self._total = 0.0
        self._lock = threading.Lock()

    @property
    def window(self) -> int | None:
        """Maximum retained samples, or None for unbounded."""
        return self._window

    @property
    def count(self) -> int:
        """Samples ever added (lifetime, not just the window)."""
        return self._count

    @property
    def total(self) -> float:
        """Sum of samples ever added (lifetime)."""
        return self._total

    def add(self, value: float) -> None:
        """Add one sample; NaN/inf are refused because they would poison every percentile."""
        v = float(value)
        if not np.isfinite(v):
            raise ValueError(f"latency sample must be finite, got {value!r}")
        with self._lock:
            self._append(v)

    def extend(self, values: Iterable[float] | npt.NDArray[np.floating]) -> None:
        """Add many samples at once."""
        arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64)
        if arr.size and not np.all(np.isfinite(arr)):
            raise ValueError("latency samples must be finite")
        arr = arr.ravel()
        with self._lock:
            self._count += int(arr.size)
            self._total += float(arr.sum())
            if self._window is None:
                needed = self._size + arr.size
                if needed > self._buf.size:
                    self._buf = np.resize(self._buf, max(needed, self._buf.size * 2))
                self._buf[self._size : needed] = arr
                self._size = needed
                return
            # Ring mode: only the newest `window` samples can survive, written slot by slot.
            for v in arr[-self._window :]:
                self._buf[self._head] = v
                self._head = (self._head + 1) % self._window
            self._size = min(self._size + arr.size, self._window)

    def _append(self, v: float) -> None:
        self._count += 1
        self._total += v
        if self._window is None:
            if self._size == self._buf.size:
                self._buf = np.resize(self._buf, self._buf.size * 2)
            self._buf[self._size] = v
            self._size += 1
            return
        self._buf[self._head] = v
        self._head = (self._head + 1) % self._window
        self._size = min(self._size + 1, self._window)

    def values(self) -> npt.NDArray[np.float64]:
        """A copy of the retained samples, oldest first."""
        with self._lock:
            if self._window is None or self._size < self._window:
                return self._buf[: self._size].copy()
            return np.concatenate((self._buf[self._head :], self._buf[: self._head]))

    def quantiles(self, qs: Iterable[float] = QUANTILES) -> list[float]:
        """Quantiles (0..1) of the retained samples; NaN each when empty."""
        q = list(qs)
        data = self.values()
        if data.size == 0:
            return [float("nan")] * len(q)
        return [float(x) for x in np.quantile(data, q)]

    def summary(self) -> LatencySummary:
        """Summary over the retained samples (count is the retained count)."""
        data = self.values()
        if data.size == 0:
            return LatencySummary.empty()
        p50, p95, p99 = (float(x) for x in np.quantile(data, QUANTILES))
        return LatencySummary(
            count=int(data.size),
            mean=float(data.mean()),
            p50=p50,
            p95=p95,
            p99=p99,
            max=float(data.max()),
            min=float(data.min()),
        )


class LatencyBook:
    """Per-stage and end-to-end latency series of a run, in milliseconds."""

    def __init__(self, window: int | None = None) -> None:
        self._window = window
        self._series: dict[str, LatencyStats] = {}
        self._lock = threading.Lock()

    def series(self, name: str) -> LatencyStats:
        """The series for `name` (a stage, or `E2E`), created on first use."""
        with self._lock:
            stats = self._series.get(name)
            if stats is None:
                stats = self._series[name] = LatencyStats(self._window)
            return stats

    def add(self, name: str, value_ms: float) -> None:
        """Add one sample (ms) to series `name`."""
        self.series(name).add(value_ms)

    def add_frame(self, timing: FrameTiming) -> None:
        """Add a frame's stage durations and, if it was published, its end-to-end latency."""
        for stage, ns in timing.stage_durations_ns().items():
            self.add(stage, ns / 1e6)
        if timing.published_ns is not None:
            self.add(E2E, timing.e2e_ns() / 1e6)

    @property
    def e2e(self) -> LatencyStats:
        """The end-to-end series."""
        return self.series(E2E)

    def stages(self) -> list[str]:
        """Stage names in first-seen order (pipeline order when frames are added in order), no e2e."""
        with self._lock:
            return [name for name in self._series if name != E2E]

    def summaries(self) -> dict[str, LatencySummary]:
        """Summary per series, stages first then e2e."""
        out = {name: self.series(name).summary() for name in self.stages()}
        out[E2E] = self.e2e.summary()
        return out
