"""Wherever the lifecycle manager runs with an exporter, its events and roles are on /metrics."""

from __future__ import annotations

from prometheus_client import generate_latest

from edge_llm_ros.app.run_session import RunOptions, RunSession
from edge_llm_ros.config_files import find_config
from edge_llm_ros.nodes.lifecycle_manager import LifecycleManagerNode
from edge_llm_ros.nodes.telemetry_exporter import TelemetryExporter
from edge_llm_ros.runtime.context import NodeOptions


def test_exporter_of_a_manager_serves_its_families() -> None:
    options = RunOptions(
        config=find_config("traffic.yaml"), transport="inproc", manager_params={"node_names": ["decision"]}
    )
    with RunSession(options) as session:
        exporter = TelemetryExporter(session.node.context, {"lifecycle_manager": session.node})
        try:
            text = generate_latest(exporter.metrics.registry).decode()
        finally:
            exporter.close()
    assert 'edge_llm_manager_events_total{event="failover"} 0.0' in text
    assert 'edge_llm_manager_instances{node="decision",role="active"} 1.0' in text
    assert 'edge_llm_manager_instance_respawns_total{instance="decision",node="decision"} 0.0' in text


def test_an_unconfigured_manager_scrapes_without_its_families() -> None:
    options = RunOptions(
        config=find_config("traffic.yaml"), transport="inproc", manager_params={"node_names": ["decision"]}
    )
    with RunSession(options) as session:
        # A second manager node, never configured (as under ros2 launch before its first transition).
        idle = LifecycleManagerNode(session.node.context, NodeOptions("idle_manager"))
        exporter = TelemetryExporter(session.node.context, {"idle_manager": idle})
        try:
            text = generate_latest(exporter.metrics.registry).decode()
        finally:
            exporter.close()
            idle.destroy()
    assert "edge_llm_manager_events_total" not in text
    assert "edge_llm_process_resident_memory_bytes" in text
