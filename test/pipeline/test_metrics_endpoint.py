"""A replay exposes real Prometheus metrics on loopback, scraped over HTTP."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge_llm_ros.app.pipeline import build_pipeline, scene_config_path
from edge_llm_ros.app.replay.driver import ReplayDriver
from edge_llm_ros.app.replay.session import ReplayOptions, node_overrides
from edge_llm_ros.models.store import ModelStore
from edge_llm_ros.nodes.telemetry_exporter import TelemetryExporter
from edge_llm_ros.scenes import synthesize
from edge_llm_ros.transport.inproc import InprocBus
from edge_llm_ros.transport.qos import QoSProfile

DEFAULT = QoSProfile(depth=100)

pytestmark = pytest.mark.slow


def test_stage_histograms_drops_and_process_metrics(sample_model_store: ModelStore, tmp_path: Path) -> None:
    drive = tmp_path / "drive"
    synthesize(drive, scene="traffic", duration_s=2.0, seed=7, faults=True)
    options = ReplayOptions(bag=drive, model_store=str(sample_model_store.root))
    bus = InprocBus()
    pipeline = build_pipeline(bus, scene_config_path("traffic"), node_overrides(options))
    exporter = None
    try:
        pipeline.bring_up()
        exporter = TelemetryExporter(pipeline.context, pipeline.nodes, port=0)
        port = exporter.start()
        listener = bus.create_node("diagnostics_listener")
        diagnostics = listener.create_subscription("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", DEFAULT)
        assert exporter.server.host == "127.0.0.1"
        ReplayDriver(pipeline, drive).run()
        exporter.poll()
        names = set()
        while (sample := diagnostics.take()) is not None:
            msg = bus.codec.deserialize(sample.data, "diagnostic_msgs/msg/DiagnosticArray")
            names |= {status.name for status in msg.status}
        assert {f"{node}: lifecycle" for node in pipeline.nodes} <= names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        if exporter is not None:
            exporter.close()
        pipeline.shutdown()
        bus.close()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def total(name: str, **labels: str) -> float:
        return sum(
            v for (n, lab), v in samples.items() if n == name and all((k, val) in lab for k, val in labels.items())
        )

    assert total("edge_llm_stage_latency_seconds_count", stage="fusion") >= 15
    assert total("edge_llm_stage_latency_seconds_count", stage="vision") >= 15
    assert total("edge_llm_batch_size_count") > 0
    assert total("edge_llm_rejected_inputs_total", node="sensor_fusion") > 0  # the injected faults
    assert total("edge_llm_process_resident_memory_bytes") > 50e6
    assert any(n == "edge_llm_network_sent_bytes_total" for n, _ in samples)
