"""/metrics for `edge-llm-ros run`: the manager's process, its events, and in-process nodes."""

from __future__ import annotations

from collections.abc import Mapping

from edge_llm_ros.nodes.telemetry_exporter import TelemetryExporter
from edge_llm_ros.runtime.managed_node import ManagedNode


def start_run_exporter(
    manager_node: ManagedNode, hosted: Mapping[str, ManagedNode], port: int, *, host: str = "127.0.0.1"
) -> TelemetryExporter:
    """Serve the manager's events and roles plus the metrics of the nodes hosted in this process.

    `hosted` is empty under zenoh (each node process serves its own /metrics where asked) and the
    inproc spawner's nodes otherwise. Returns the started exporter; `close()` it.
    """
    if getattr(manager_node, "manager", None) is None:
        raise RuntimeError("the lifecycle manager is not configured yet")
    # The exporter adds the manager's families itself (as it does under ros2 launch).
    exporter = TelemetryExporter(
        manager_node.context, {manager_node.name: manager_node, **hosted}, host=host, port=port
    )
    exporter.start()
    return exporter
