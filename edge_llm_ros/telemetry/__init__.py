"""Telemetry: per-frame stage stamps, latency statistics, Prometheus metrics, /diagnostics, reports.

Plain Python (numpy, prometheus-client, psutil, matplotlib); nothing here imports a transport.
Heavy imports (matplotlib) stay inside `report`, so importing this package is cheap.
"""

from edge_llm_ros.telemetry.diagnostics import (
    CounterStatus,
    DiagnosticArrayData,
    DiagnosticStatusData,
    DiagnosticUpdater,
    FrequencyStatus,
    LatencyStatus,
    Level,
    StatusReport,
    from_ros,
    to_ros,
)
from edge_llm_ros.telemetry.latency_stats import LatencyBook, LatencyStats, LatencySummary
from edge_llm_ros.telemetry.metrics import (
    BATCH_SIZE_BUCKETS,
    LATENCY_BUCKETS_S,
    DropReason,
    MetricsServer,
    NodeMetrics,
    PipelineMetrics,
    ProcessCollector,
)
from edge_llm_ros.telemetry.run_record import RunRecorder
from edge_llm_ros.telemetry.stamps import (
    Clock,
    FrameTiming,
    ManualClock,
    StageSpan,
    StampsError,
    wall_clock,
)

__all__ = [
    "BATCH_SIZE_BUCKETS",
    "LATENCY_BUCKETS_S",
    "Clock",
    "CounterStatus",
    "DiagnosticArrayData",
    "DiagnosticStatusData",
    "DiagnosticUpdater",
    "DropReason",
    "FrameTiming",
    "FrequencyStatus",
    "LatencyBook",
    "LatencyStats",
    "LatencyStatus",
    "LatencySummary",
    "Level",
    "ManualClock",
    "MetricsServer",
    "NodeMetrics",
    "PipelineMetrics",
    "ProcessCollector",
    "RunRecorder",
    "StageSpan",
    "StampsError",
    "StatusReport",
    "from_ros",
    "to_ros",
    "wall_clock",
]
