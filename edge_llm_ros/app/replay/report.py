"""Turn a replay result into the JSON report, the latency plot and the decisions bag."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_llm_ros.app.replay.driver import ReplayResult
from edge_llm_ros.bags.writer import BagWriter
from edge_llm_ros.nodes import topics
from edge_llm_ros.scenes import get_scene
from edge_llm_ros.telemetry.latency_stats import percentiles
from edge_llm_ros.telemetry.rejections import rejections_by_topic
from edge_llm_ros.telemetry.report import ReportPaths, build_report, format_report, write_report
from edge_llm_ros.telemetry.run_record import RunRecorder
from edge_llm_ros.telemetry.stamps import FrameTiming
from edge_llm_ros.transport.qos import PIPELINE

# Top-level stages only: sub-spans such as "roi.detector" and "vision.model" (model compute) are
# inside these and stay in the decision records for the overhead benchmark.
STAGE_ORDER = ("fusion", "roi", "vision", "decision")


def record_run(
    result: ReplayResult, batch_sizes: Mapping[int, int], counters: Mapping[str, Mapping[str, int]]
) -> RunRecorder:
    """Frame timings (from each decision's stage spans), batch sizes and drops of a replay."""
    recorder = RunRecorder()
    for decision in result.decisions:
        injected = result.injected_ns.get(decision.stamp_ns)
        if injected is None:
            continue
        timing = FrameTiming(decision.stamp_ns, origin_ns=injected)
        for stage in STAGE_ORDER:
            if stage in decision.timing:
                timing.add(stage, *decision.timing[stage])
        timing.published_ns = decision.decided_ns
        recorder.add_frame(timing)
    for size, count in batch_sizes.items():
        for _ in range(count):
            recorder.add_batch(size)
    for node, node_counters in counters.items():
        for key, value in node_counters.items():
            if value and key.startswith(("dropped", "bad_input", "rejected", "missing", "decided_without")):
                recorder.drop(key, value, stage=node)
    # The report's `rejected` section: bad inputs by topic and reason (issue 15: it read 0).
    for (topic, reason), value in sorted(rejections_by_topic(counters).items()):
        recorder.reject(topic, reason, value)
    undecided = result.frames_published - len({d.stamp_ns for d in result.decisions})
    if undecided > 0:
        recorder.drop("undecided_frames", undecided)
    return recorder


def accuracy(result: ReplayResult, scene: str) -> dict[str, Any] | None:
    """Precision/recall against the bag's ground truth, restricted to the frames replayed."""
    truth = {s: t for s, t in result.truth.items() if s in result.injected_ns}
    if not truth:
        return None
    return get_scene(scene).score(result.decisions, truth)


def advisory_summary(result: ReplayResult, requests: int) -> dict[str, Any]:
    """Advisories requested, published, not published (deadline or invalid), latency from frame."""
    latencies = [
        (a["received_ns"] - result.injected_ns[int(a["stamp_ns"])]) / 1e6
        for a in result.advisories
        if int(a.get("stamp_ns", -1)) in result.injected_ns
    ]
    summary: dict[str, Any] = {
        "requests": requests,
        "published": len(result.advisories),
        "not_published": max(0, requests - len(result.advisories)),
    }
    if latencies:
        figures = percentiles(latencies, ndigits=1)
        summary["latency_ms"] = {key: figures[key] for key in ("p50", "p99", "max")}
    return summary


def write_decisions_bag(result: ReplayResult, out_dir: Path) -> Path:
    """The decisions as a rosbag2 (mcap), stamped with their source frame stamps."""
    path = out_dir / "decisions"
    if path.exists():  # a report directory is rewritten as a whole, like report.json
        shutil.rmtree(path)
    writer = BagWriter(path)
    writer.open()
    try:
        writer.add_topic(topics.DECISION_TOPIC, topics.STRING, PIPELINE)
        for stamp, data in sorted(result.decision_cdr, key=lambda item: item[0]):
            writer.write_raw(topics.DECISION_TOPIC, stamp, data)
    finally:
        writer.close()
    return path


def write_replay_report(
    result: ReplayResult,
    out_dir: Path,
    *,
    scene: str,
    batch_sizes: Mapping[int, int],
    counters: Mapping[str, Mapping[str, int]],
    metadata: Mapping[str, Any],
    budget_ms: float = 100.0,
) -> tuple[ReportPaths, dict[str, Any], str]:
    """Write report.json, the latency PNG and the decisions bag; returns paths, report and table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    recorder = record_run(result, batch_sizes, counters)
    acc = accuracy(result, scene)
    requests = int(counters.get("decision", {}).get("llm_requests", 0))
    if requests:
        acc = {**(acc or {}), "advisories": advisory_summary(result, requests)}
    meta = {
        **metadata,
        "frames_published": result.frames_published,
        "decisions": len(result.decisions),
        "wall_s": round(result.wall_s, 3),
    }
    paths = write_report(out_dir, recorder, accuracy=acc, metadata=meta, budget_ms=budget_ms)
    write_decisions_bag(result, out_dir)
    report = build_report(recorder, accuracy=acc, metadata=meta, budget_ms=budget_ms)
    return paths, report, format_report(report)
