"""The Grafana dashboard, built with grafana-foundation-sdk (Grafana's own typed builders).

`edge-llm-ros monitor --regenerate-dashboard` rewrites ``grafana/dashboards/edge_llm_ros.json``;
the committed file must equal what `build_dashboard_json()` returns (a test checks). The SDK
needs Python >= 3.11, so it is imported only here and only when regenerating: running the
pipeline, the monitor command and the tests that read the JSON work on 3.10 without it.

Panels query the recording rules of ``prometheus/rules/edge_llm_recording.yml`` where one exists
(cheap, and the same numbers the alerts see) and raw families otherwise. Failovers, rollbacks and
swaps are annotations: Grafana draws a Prometheus annotation wherever the value is positive, so
``increase(...)`` marks the minute in which an event happened.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

DASHBOARD_UID = "edge-llm-ros"
DATASOURCE_UID = "edge-llm-prometheus"
BUDGET_S = 0.1
GRAFANA_DIR = Path(__file__).resolve().parent / "grafana"
DASHBOARD_FILE = GRAFANA_DIR / "dashboards" / "edge_llm_ros.json"

#: (title, unit, [(expr, legend)], description) per time-series panel, in dashboard order.
PanelSpec = tuple[str, str, Sequence[tuple[str, str]], str]

ROWS: tuple[tuple[str, tuple[PanelSpec, ...]], ...] = (
    (
        "Latency against the 100 ms budget",
        (
            (
                "Sensor-to-decision latency",
                "s",
                (
                    ("edge_llm:e2e_latency_seconds:p50_1m", "p50"),
                    ("edge_llm:e2e_latency_seconds:p95_1m", "p95"),
                    ("edge_llm:e2e_latency_seconds:p99_1m", "p99"),
                ),
                "Quantiles over the last minute; the red line is the 100 ms budget.",
            ),
            (
                "Per-stage p99",
                "s",
                (("edge_llm:stage_latency_seconds:p99_1m", "{{stage}}"),),
                "Compute stages and transport hops, p99 over the last minute.",
            ),
            (
                "Per-stage p50 / p95",
                "s",
                (
                    ("edge_llm:stage_latency_seconds:p50_1m", "{{stage}} p50"),
                    ("edge_llm:stage_latency_seconds:p95_1m", "{{stage}} p95"),
                ),
                "",
            ),
            (
                "Decided within budget",
                "percentunit",
                (("edge_llm:e2e_within_budget:ratio_1m", "within 100 ms"),),
                "Share of decided frames whose sensor-to-decision latency was at most 100 ms.",
            ),
        ),
    ),
    (
        "Throughput and losses",
        (
            (
                "Frames in / out",
                "fps",
                (("edge_llm:frames_in:rate_1m", "in (fused)"), ("edge_llm:frames_out:rate_1m", "out (decided)")),
                "Camera frames fused vs decisions published, per second.",
            ),
            (
                "Decisions by action",
                "ops",
                (("edge_llm:decisions:rate_1m", "{{action}}"),),
                "",
            ),
            (
                "Drops by reason",
                "ops",
                (("edge_llm:dropped:rate_1m", "{{node}} {{reason}}"),),
                "Frames or requests dropped per second (deadline, overflow, stale, ...).",
            ),
            (
                "Rejected inputs",
                "ops",
                (("edge_llm:rejected_inputs:rate_1m", "{{node}} {{topic}} {{reason}}"),),
                "Malformed input per second (bad encoding, NaN, truncated CDR).",
            ),
            (
                "Batch size",
                "short",
                (
                    (
                        "histogram_quantile(0.5, sum by (le) (rate(edge_llm_batch_size_bucket[1m])))",
                        "p50",
                    ),
                    ("sum(rate(edge_llm_batch_size_sum[1m])) / sum(rate(edge_llm_batch_size_count[1m]))", "mean"),
                ),
                "Requests per engine batch.",
            ),
            (
                "Queue depth",
                "short",
                (("max by (node, queue) (edge_llm_queue_depth)", "{{node}} {{queue}}"),),
                "",
            ),
        ),
    ),
    (
        "Processes",
        (
            (
                "Resident memory",
                "bytes",
                (("edge_llm_process_resident_memory_bytes", "{{node}} ({{instance}})"),),
                "RSS per process; a steady climb raises EdgeLlmRssGrowing.",
            ),
            (
                "CPU",
                "percent",
                (("edge_llm_process_cpu_percent", "{{node}} ({{instance}})"),),
                "Percent of one core per process.",
            ),
            (
                "Temperature",
                "celsius",
                (("max by (instance, sensor) (edge_llm_temperature_celsius)", "{{sensor}}"),),
                "Only where the OS exposes a sensor (not in most containers and VMs).",
            ),
            (
                "Network",
                "Bps",
                (
                    ("max by (instance) (rate(edge_llm_network_sent_bytes_total[1m]))", "sent {{instance}}"),
                    ("max by (instance) (rate(edge_llm_network_received_bytes_total[1m]))", "received {{instance}}"),
                ),
                "Host-wide bytes per second, as seen by each process.",
            ),
        ),
    ),
    (
        "LLM advisory (off the safety path)",
        (
            (
                "Advisory latency",
                "s",
                (
                    ("edge_llm:llm_advisory_latency_seconds:p50_5m", "p50"),
                    ("edge_llm:llm_advisory_latency_seconds:p95_5m", "p95"),
                ),
                "Request to validated advisory.",
            ),
            (
                "Generation speed",
                "short",
                (("edge_llm:llm_tokens_per_second:5m", "tokens/s"),),
                "Tokens per second of generation for published advisories.",
            ),
        ),
    ),
)

#: (name, colour, expr) annotations.
ANNOTATIONS: tuple[tuple[str, str, str], ...] = (
    ("Failovers", "red", 'sum(increase(edge_llm_manager_events_total{event="failover"}[1m]))'),
    ("Rollbacks", "orange", 'sum(increase(edge_llm_manager_events_total{event="rollback"}[1m]))'),
    ("Model swaps", "blue", 'sum(increase(edge_llm_manager_events_total{event="swap"}[1m]))'),
)


def build_dashboard() -> Any:
    """The dashboard model (grafana_foundation_sdk.models.dashboard.Dashboard)."""
    from grafana_foundation_sdk.builders import dashboard, prometheus, timeseries
    from grafana_foundation_sdk.models.dashboard import (
        DashboardCursorSync,
        DataSourceRef,
        Threshold,
        ThresholdsMode,
    )

    datasource = DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
    board = (
        dashboard.Dashboard("edge_llm_ros pipeline")
        .uid(DASHBOARD_UID)
        .tags(["edge_llm_ros"])
        .description("Latency against budget, throughput, losses, resources and LLM advisories of one device.")
        .refresh("10s")
        .time("now-30m", "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .readonly()
    )
    for name, colour, expr in ANNOTATIONS:
        board = board.annotation(
            dashboard.AnnotationQuery().name(name).datasource(datasource).enable(True).icon_color(colour).expr(expr)
        )
    panel_id = 0  # Grafana keys panel state (links, edits) by id: stable ids, in order
    for row_title, panels in ROWS:
        panel_id += 1
        board = board.with_row(dashboard.Row(row_title).id(panel_id))
        for title, unit, queries, description in panels:
            panel_id += 1
            panel = timeseries.Panel().id(panel_id).title(title).unit(unit).datasource(datasource).height(8).span(12)
            if description:
                panel = panel.description(description)
            if unit == "s" and title.startswith("Sensor-to-decision"):
                panel = panel.thresholds(
                    dashboard.ThresholdsConfig()
                    # The SDK's enums derive from enum.StrEnum, which mypy's 3.10 target reads as str.
                    .mode(cast(Any, ThresholdsMode.ABSOLUTE))
                    .steps([Threshold(value=None, color="green"), Threshold(value=BUDGET_S, color="red")])
                )
            for index, (expr, legend) in enumerate(queries):
                panel = panel.with_target(
                    prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + index))
                )
            board = board.with_panel(panel)
    return board.build()


def build_dashboard_json() -> str:
    """The dashboard as the JSON text committed under grafana/dashboards/."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    return json.dumps(build_dashboard(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def dashboard_queries(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and annotation of a dashboard JSON document."""
    found: list[tuple[str, str]] = []
    for annotation in document.get("annotations", {}).get("list", []):
        if annotation.get("expr"):
            found.append((f"annotation {annotation.get('name')}", str(annotation["expr"])))
    for panel in document.get("panels", []):
        for target in panel.get("targets", []) or []:
            if target.get("expr"):
                found.append((f"panel {panel.get('title')} [{target.get('refId')}]", str(target["expr"])))
    return found


def load_committed() -> dict[str, Any]:
    """The shipped dashboard JSON."""
    document: dict[str, Any] = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    return document


def write_dashboard(out_dir: Path | None = None) -> Path:
    """Regenerate the dashboard JSON (into `out_dir`, default the shipped location)."""
    target = (out_dir / DASHBOARD_FILE.name) if out_dir is not None else DASHBOARD_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(build_dashboard_json(), encoding="utf-8")
    return target
