"""The replay report: a versioned JSON summary, a PNG latency plot, and a text rendering for the CLI.

JSON (``REPORT_SCHEMA`` is its JSON Schema; ``version`` changes when a field changes meaning)::

    {"schema": "edge_llm_ros/replay_report", "version": 1, "generated_at": "2024-...Z",
     "run": {"frames": 200, "published": 198, "sensor_span_s": 19.9, "metadata": {...caller...}},
     "latency_ms": {"e2e": SUMMARY, "stages": {"fusion": SUMMARY, ...},
                    "budget_ms": 100.0, "e2e_p99_within_budget": true},
     "drops": {"total": 2, "by_reason": {"deadline": 2}, "by_stage": {"vision": 2}},
     "rejected": {"total": 1, "by_topic": {"/radar/tracks": {"nan": 1}}},
     "batch_size": {"batches": 40, "requests": 160, "mean": 4.0, "histogram": {"1": 2, "8": 18}},
     "accuracy": {...caller...}}

SUMMARY is ``{"count", "mean", "p50", "p95", "p99", "max", "min"}`` in ms (null when count is 0).
matplotlib is used through its object API on the Agg canvas: no pyplot, no global backend state,
safe in a headless process.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_llm_ros._compat import UTC
from edge_llm_ros.telemetry.latency_stats import E2E
from edge_llm_ros.telemetry.run_record import RunRecorder
from edge_llm_ros.telemetry.stamps import HOP_PREFIX

REPORT_SCHEMA_NAME = "edge_llm_ros/replay_report"
REPORT_VERSION = 1
TRANSPORT = "transport"

_SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["count", "mean", "p50", "p95", "p99", "max", "min"],
    "properties": {
        "count": {"type": "integer", "minimum": 0},
        **{k: {"type": ["number", "null"]} for k in ("mean", "p50", "p95", "p99", "max", "min")},
    },
}
_COUNTS_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}

REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "edge_llm_ros replay report",
    "type": "object",
    "required": [
        "schema",
        "version",
        "generated_at",
        "run",
        "latency_ms",
        "drops",
        "rejected",
        "batch_size",
        "accuracy",
    ],
    "properties": {
        "schema": {"const": REPORT_SCHEMA_NAME},
        "version": {"const": REPORT_VERSION},
        "generated_at": {"type": "string"},
        "run": {
            "type": "object",
            "required": ["frames", "published", "sensor_span_s", "metadata"],
            "properties": {
                "frames": {"type": "integer", "minimum": 0},
                "published": {"type": "integer", "minimum": 0},
                "sensor_span_s": {"type": "number", "minimum": 0},
                "metadata": {"type": "object"},
            },
        },
        "latency_ms": {
            "type": "object",
            "required": ["e2e", "stages", "budget_ms", "e2e_p99_within_budget"],
            "properties": {
                "e2e": _SUMMARY_SCHEMA,
                "stages": {"type": "object", "additionalProperties": _SUMMARY_SCHEMA},
                "budget_ms": {"type": ["number", "null"]},
                "e2e_p99_within_budget": {"type": ["boolean", "null"]},
            },
        },
        "drops": {
            "type": "object",
            "required": ["total", "by_reason", "by_stage"],
            "properties": {"total": {"type": "integer"}, "by_reason": _COUNTS_SCHEMA, "by_stage": _COUNTS_SCHEMA},
        },
        "rejected": {
            "type": "object",
            "required": ["total", "by_topic"],
            "properties": {
                "total": {"type": "integer"},
                "by_topic": {"type": "object", "additionalProperties": _COUNTS_SCHEMA},
            },
        },
        "batch_size": {
            "type": "object",
            "required": ["batches", "requests", "mean", "histogram"],
            "properties": {
                "batches": {"type": "integer", "minimum": 0},
                "requests": {"type": "integer", "minimum": 0},
                "mean": {"type": ["number", "null"]},
                "histogram": {
                    "type": "object",
                    "propertyNames": {"pattern": "^[1-9][0-9]*$"},
                    "additionalProperties": {"type": "integer", "minimum": 0},
                },
            },
        },
        "accuracy": {"type": "object"},
    },
}


@dataclass(frozen=True)
class ReportPaths:
    """Where `write_report` put its files."""

    json: Path
    png: Path | None


def build_report(
    record: RunRecorder,
    *,
    accuracy: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    budget_ms: float | None = None,
) -> dict[str, Any]:
    """The report dict for `record`; `accuracy` and `metadata` are the caller's, copied in as given."""
    summaries = record.latency.summaries()
    e2e = summaries.pop(E2E)
    stamps = [f.sensor_stamp_ns for f in record.frames]
    within = None if budget_ms is None or e2e.count == 0 else bool(e2e.p99 <= budget_ms)
    by_topic: dict[str, dict[str, int]] = {}
    for (topic, reason), n in sorted(record.rejected.items()):
        by_topic.setdefault(topic, {})[reason] = n
    batches = sum(record.batch_sizes.values())
    requests = sum(size * n for size, n in record.batch_sizes.items())
    return {
        "schema": REPORT_SCHEMA_NAME,
        "version": REPORT_VERSION,
        "generated_at": dt.datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "run": {
            "frames": len(record.frames),
            "published": sum(1 for f in record.frames if f.e2e_ms is not None),
            "sensor_span_s": (max(stamps) - min(stamps)) / 1e9 if stamps else 0.0,
            "metadata": dict(metadata or {}),
        },
        "latency_ms": {
            "e2e": e2e.to_dict(),
            "stages": {name: s.to_dict() for name, s in summaries.items()},
            "budget_ms": budget_ms,
            "e2e_p99_within_budget": within,
        },
        "drops": {
            "total": sum(record.drops.values()),
            "by_reason": dict(sorted(record.drops.items())),
            "by_stage": dict(sorted(record.drops_by_stage.items())),
        },
        "rejected": {"total": sum(record.rejected.values()), "by_topic": by_topic},
        "batch_size": {
            "batches": batches,
            "requests": requests,
            "mean": round(requests / batches, 3) if batches else None,
            "histogram": {str(size): n for size, n in sorted(record.batch_sizes.items())},
        },
        "accuracy": dict(accuracy or {}),
    }


def _json_default(value: Any) -> Any:
    """Caller sections may hold numpy scalars, paths or enums; everything else is a caller bug."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"report field of type {type(value).__name__} is not JSON-serialisable")


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    return value


def write_report(
    out_dir: str | Path,
    record: RunRecorder,
    *,
    accuracy: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    budget_ms: float | None = None,
    plot: bool = True,
    stem: str = "report",
) -> ReportPaths:
    """Write ``<stem>.json`` (and ``<stem>_latency.png`` when `plot`) under `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = _nan_to_none(build_report(record, accuracy=accuracy, metadata=metadata, budget_ms=budget_ms))
    json_path = out / f"{stem}.json"
    text = json.dumps(report, indent=2, default=_json_default, allow_nan=False)
    json_path.write_text(text + "\n", encoding="utf-8")
    png_path = None
    if plot:
        title = str((metadata or {}).get("title") or (metadata or {}).get("bag") or "replay")
        png_path = plot_latency(record, out / f"{stem}_latency.png", budget_ms=budget_ms, title=title)
    return ReportPaths(json_path, png_path)


def _stage_groups(record: RunRecorder) -> list[str]:
    """Compute stages in pipeline order, with every transport hop folded into one 'transport' band."""
    names: list[str] = []
    for stage in record.latency.stages():
        name = TRANSPORT if stage.startswith(HOP_PREFIX) else stage
        if name not in names:
            names.append(name)
    return names


def _horizontal() -> dict[str, Any]:
    """Pick boxplot's horizontal switch: `orientation` from matplotlib 3.10, `vert` (deprecated there) before."""
    import matplotlib

    major, minor = (int(p) for p in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


def plot_latency(
    record: RunRecorder, path: str | Path, *, budget_ms: float | None = None, title: str = "replay"
) -> Path:
    """PNG: e2e over time on stacked stage bands, per-stage latency boxes, batch-size histogram."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import ScalarFormatter

    fig = Figure(figsize=(12, 8), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 2, height_ratios=[1.15, 1], width_ratios=[1.5, 1])
    ax_time = fig.add_subplot(grid[0, :])
    ax_box = fig.add_subplot(grid[1, 0])
    ax_batch = fig.add_subplot(grid[1, 1])
    e2e = record.latency.e2e.summary()
    headline = f"{title}: {len(record.frames)} frames"
    if e2e.count:
        headline += f", e2e p50 {e2e.p50:.1f} ms, p99 {e2e.p99:.1f} ms, max {e2e.max:.1f} ms"
    fig.suptitle(headline, fontsize=13)

    groups = _stage_groups(record)
    frames = sorted(record.frames, key=lambda f: f.sensor_stamp_ns)
    if frames:
        t0 = frames[0].sensor_stamp_ns
        x = np.array([(f.sensor_stamp_ns - t0) / 1e9 for f in frames])
        bands = np.zeros((len(groups), len(frames)))
        for j, frame in enumerate(frames):
            for stage, ms in frame.stages_ms.items():
                bands[groups.index(TRANSPORT if stage.startswith(HOP_PREFIX) else stage), j] += ms
        if groups:
            ax_time.stackplot(x, bands, labels=groups, alpha=0.75, step="mid")
        published = [(xi, f.e2e_ms) for xi, f in zip(x, frames, strict=True) if f.e2e_ms is not None]
        if published:
            px, py = zip(*published, strict=True)
            ax_time.plot(px, py, color="black", lw=1.2, label="end-to-end")
            ax_time.axhline(e2e.p99, color="0.3", ls=":", lw=1, label=f"e2e p99 {e2e.p99:.1f} ms")
        if budget_ms is not None:
            ax_time.axhline(budget_ms, color="red", ls="--", lw=1.2, label=f"budget {budget_ms:g} ms")
        ax_time.set_xlim(float(x.min()), float(max(x.max(), x.min() + 1e-3)))
        ax_time.set_ylim(bottom=0)
        # Outside the axes: inside it would hide the budget line or the worst frames.
        ax_time.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=9, borderaxespad=0)
    else:
        ax_time.text(0.5, 0.5, "no frames", ha="center", va="center", transform=ax_time.transAxes)
    ax_time.set_title("latency over the run (stages stacked; gap to the line = queueing/waiting)", fontsize=11)
    ax_time.set_xlabel("sensor time since first frame [s]")
    ax_time.set_ylabel("latency [ms]")
    ax_time.grid(alpha=0.3)

    series = [(name, record.latency.series(name).values()) for name in record.latency.stages()]
    series = [(name, v) for name, v in series if v.size]
    if e2e.count:
        series.append(("end-to-end", record.latency.e2e.values()))
    if series:
        positions = np.arange(1, len(series) + 1)
        # Floor at 1 µs so a zero-length stage still shows on the log axis.
        ax_box.boxplot(
            [np.maximum(v, 1e-3) for _, v in series],
            positions=positions,
            whis=(1, 99),
            showfliers=True,
            flierprops={"markersize": 2, "alpha": 0.4},
            **_horizontal(),
        )
        ax_box.set_yticks(positions, [name for name, _ in series], fontsize=9)
        ax_box.invert_yaxis()
        ax_box.set_xscale("log")
        ax_box.xaxis.set_major_formatter(ScalarFormatter())  # "1, 10, 100" reads faster than 10^0
        if budget_ms is not None:
            ax_box.axvline(budget_ms, color="red", ls="--", lw=1)
    else:
        ax_box.text(0.5, 0.5, "no stage timings", ha="center", va="center", transform=ax_box.transAxes)
    ax_box.set_title("per-stage latency (box: quartiles, whiskers: p1..p99)", fontsize=11)
    ax_box.set_xlabel("latency [ms, log]")
    ax_box.grid(alpha=0.3, axis="x", which="both")

    if record.batch_sizes:
        sizes = sorted(record.batch_sizes)
        counts = [record.batch_sizes[s] for s in sizes]
        ax_batch.bar(sizes, counts, width=0.8, color="tab:purple")
        ax_batch.set_xticks(sizes)
        mean = sum(s * c for s, c in zip(sizes, counts, strict=True)) / sum(counts)
        ax_batch.set_title(f"batch size ({sum(counts)} batches, mean {mean:.2f})", fontsize=11)
    else:
        ax_batch.text(0.5, 0.5, "no batches", ha="center", va="center", transform=ax_batch.transAxes)
        ax_batch.set_title("batch size", fontsize=11)
    ax_batch.set_xlabel("requests per batch")
    ax_batch.set_ylabel("batches")
    ax_batch.grid(alpha=0.3, axis="y")

    out = Path(path)
    fig.savefig(out, format="png")
    return out


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_report(report: Mapping[str, Any]) -> str:
    """A plain-text rendering of a report dict for the terminal."""
    run, lat, drops, batch = report["run"], report["latency_ms"], report["drops"], report["batch_size"]
    lines = [f"frames {run['frames']} (published {run['published']}) over {run['sensor_span_s']:.1f} s of sensor time"]
    lines.append(f"{'latency [ms]':<28}{'count':>7}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}")
    rows = [*lat["stages"].items(), ("end-to-end", lat["e2e"])]
    for name, s in rows:
        lines.append(
            f"{name[:28]:<28}{s['count']:>7}{_fmt(s['p50']):>9}{_fmt(s['p95']):>9}{_fmt(s['p99']):>9}{_fmt(s['max']):>9}"
        )
    if lat["budget_ms"] is not None:
        verdict = {True: "within", False: "OVER", None: "n/a"}[lat["e2e_p99_within_budget"]]
        lines.append(f"e2e p99 vs budget {lat['budget_ms']:g} ms: {verdict}")
    reasons = ", ".join(f"{k} {v}" for k, v in drops["by_reason"].items()) or "none"
    lines.append(f"drops {drops['total']} ({reasons}); rejected inputs {report['rejected']['total']}")
    hist = " ".join(f"{k}:{v}" for k, v in batch["histogram"].items()) or "none"
    lines.append(f"batches {batch['batches']} (mean size {_fmt(batch['mean'])}; size:count {hist})")
    for key, value in report["accuracy"].items():
        shown = f"{value:.3f}" if isinstance(value, float) else json.dumps(value, default=str)
        lines.append(f"accuracy {key}: {shown}")
    return "\n".join(lines)
