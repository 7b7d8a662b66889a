from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from edge_llm_ros.telemetry.metrics import (
    LATENCY_BUCKETS_S,
    DropReason,
    MetricsServer,
    PipelineMetrics,
    read_temperatures,
)
from edge_llm_ros.telemetry.stamps import FrameTiming, ManualClock

MS = 1_000_000


@pytest.fixture
def metrics() -> PipelineMetrics:
    return PipelineMetrics()


@pytest.fixture
def server(metrics: PipelineMetrics) -> Iterator[MetricsServer]:
    srv = MetricsServer(metrics.registry)  # defaults: 127.0.0.1, ephemeral port
    srv.start()
    yield srv
    srv.stop()


def scrape(srv: MetricsServer) -> dict[str, list[Sample]]:
    with urllib.request.urlopen(srv.url, timeout=5) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def pick(samples: list[Sample], name: str, **labels: str) -> list[Sample]:
    return [s for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = pick(samples, name, **labels)
    assert len(found) == 1, (name, labels, found)
    return found[0].value


def test_server_binds_loopback_ephemeral_port(server: MetricsServer) -> None:
    assert server.port > 0
    assert server.host == "127.0.0.1"
    assert server.url == f"http://127.0.0.1:{server.port}/metrics"
    assert server._server is not None
    assert server._server.socket.getsockname()[0] == "127.0.0.1"
    assert "edge_llm_stage_latency_seconds" in scrape(server)


def test_non_loopback_bind_needs_explicit_opt_in() -> None:
    registry = CollectorRegistry()
    for host in ("0.0.0.0", "::", "", "10.1.2.3", "example.org"):
        with pytest.raises(ValueError):
            MetricsServer(registry, host=host)
    MetricsServer(registry, host="0.0.0.0", allow_remote=True)  # constructed, never started here
    local = MetricsServer(registry, host="localhost")
    assert local.host == "127.0.0.1"
    with pytest.raises(ValueError):
        MetricsServer(registry, port=70000)


def test_unknown_path_is_404_and_stop_releases_port(metrics: PipelineMetrics) -> None:
    srv = MetricsServer(metrics.registry, port=0)
    port = srv.start()
    assert srv.start() == port  # idempotent
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/secrets", timeout=5)
    assert err.value.code == 404
    srv.stop()
    srv.stop()
    assert not srv.running
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_stage_histogram_buckets_and_counts(metrics: PipelineMetrics, server: MetricsServer) -> None:
    vision = metrics.node("vision_inference")
    for seconds in (0.0004, 0.004, 0.004, 0.025, 0.6):
        vision.observe_stage("vision", seconds)
    samples = scrape(server)["edge_llm_stage_latency_seconds"]
    labels = {"node": "vision_inference", "stage": "vision"}
    buckets = {s.labels["le"]: s.value for s in pick(samples, "edge_llm_stage_latency_seconds_bucket", **labels)}
    assert len(buckets) == len(LATENCY_BUCKETS_S) + 1
    assert buckets["0.0005"] == 1
    assert buckets["0.005"] == 3
    assert buckets["0.03"] == 4
    assert buckets["0.5"] == 4
    assert buckets["+Inf"] == 5
    assert value(samples, "edge_llm_stage_latency_seconds_count", **labels) == 5
    assert value(samples, "edge_llm_stage_latency_seconds_sum", **labels) == pytest.approx(0.6334)


def test_frame_timing_feeds_stage_and_e2e(metrics: PipelineMetrics, server: MetricsServer) -> None:
    clock = ManualClock(1_000 * MS)
    decision = metrics.node("decision")
    for _ in range(3):
        timing = FrameTiming.begin(clock(), clock=clock)
        with timing.stage("fusion", clock):
            clock.advance(2 * MS)
        timing.add_hop("/edge_llm/detections", clock(), clock.advance(1 * MS))
        with timing.stage("decision", clock):
            clock.advance(1 * MS)
        timing.mark_published(clock)
        decision.observe_frame(timing, stages=["decision", "hop:/edge_llm/detections", "e2e"])
    families = scrape(server)
    stage = families["edge_llm_stage_latency_seconds"]
    assert value(stage, "edge_llm_stage_latency_seconds_count", node="decision", stage="decision") == 3
    assert value(stage, "edge_llm_stage_latency_seconds_count", node="decision", stage="hop:/edge_llm/detections") == 3
    assert not pick(stage, "edge_llm_stage_latency_seconds_count", stage="fusion")  # not this node's stage
    e2e = families["edge_llm_e2e_latency_seconds"]
    assert value(e2e, "edge_llm_e2e_latency_seconds_sum", node="decision") == pytest.approx(0.012)
    window = families["edge_llm_e2e_latency_window_seconds"]
    assert value(window, "edge_llm_e2e_latency_window_seconds", node="decision", quantile="0.99") == pytest.approx(
        0.004
    )
    assert value(window, "edge_llm_e2e_latency_window_seconds_count", node="decision") == 3
    stage_window = families["edge_llm_stage_latency_window_seconds"]
    assert value(
        stage_window, "edge_llm_stage_latency_window_seconds", node="decision", stage="decision", quantile="0.5"
    ) == pytest.approx(0.001)


def test_drops_rejections_queue_and_batches_by_label(metrics: PipelineMetrics, server: MetricsServer) -> None:
    vision, fusion = metrics.node("vision_inference"), metrics.node("sensor_fusion")
    assert metrics.node("vision_inference") is vision
    vision.drop(DropReason.DEADLINE, 3)
    vision.drop("overflow")
    fusion.drop(DropReason.STALE)
    fusion.drop(DropReason.BAD_INPUT, 2)
    fusion.reject("/radar/tracks", "nan_field")
    fusion.reject("/camera/image_raw", "bad_encoding", 4)
    vision.set_queue_depth("batcher", 7)
    fusion.set_queue_depth("/camera/image_raw", 1)
    for size in (1, 8, 8, 5):
        vision.observe_batch(size)
    families = scrape(server)
    drops = families["edge_llm_dropped"]
    assert value(drops, "edge_llm_dropped_total", node="vision_inference", reason="deadline") == 3
    assert value(drops, "edge_llm_dropped_total", node="vision_inference", reason="overflow") == 1
    assert value(drops, "edge_llm_dropped_total", node="sensor_fusion", reason="stale") == 1
    assert value(drops, "edge_llm_dropped_total", node="sensor_fusion", reason="bad_input") == 2
    rejected = families["edge_llm_rejected_inputs"]
    assert value(rejected, "edge_llm_rejected_inputs_total", topic="/camera/image_raw", reason="bad_encoding") == 4
    assert value(rejected, "edge_llm_rejected_inputs_total", node="sensor_fusion", topic="/radar/tracks") == 1
    queue = families["edge_llm_queue_depth"]
    assert value(queue, "edge_llm_queue_depth", node="vision_inference", queue="batcher") == 7
    batch = families["edge_llm_batch_size"]
    assert value(batch, "edge_llm_batch_size_bucket", node="vision_inference", le="4.0") == 1
    assert value(batch, "edge_llm_batch_size_bucket", node="vision_inference", le="6.0") == 2
    assert value(batch, "edge_llm_batch_size_bucket", node="vision_inference", le="8.0") == 4
    assert value(batch, "edge_llm_batch_size_sum", node="vision_inference") == 22


def test_label_values_are_bounded(metrics: PipelineMetrics) -> None:
    node = metrics.node("roi")
    with pytest.raises(ValueError):
        node.drop("reason with spaces")
    with pytest.raises(ValueError):
        node.reject("/t", "x" * 200)
    with pytest.raises(ValueError):
        metrics.node("")


def test_registries_are_isolated() -> None:
    a, b = PipelineMetrics(), PipelineMetrics()  # same metric names, no DuplicateTimeseries
    a.node("n").drop("stale")
    assert b.registry.get_sample_value("edge_llm_dropped_total", {"node": "n", "reason": "stale"}) is None
    assert a.registry.get_sample_value("edge_llm_dropped_total", {"node": "n", "reason": "stale"}) == 1


def test_process_metrics_without_temperature(metrics: PipelineMetrics, server: MetricsServer, tmp_path: Path) -> None:
    metrics.add_process_collector("pipeline", temperature_source=lambda: read_temperatures(tmp_path, use_psutil=False))
    families = scrape(server)
    assert (
        value(
            families["edge_llm_process_resident_memory_bytes"],
            "edge_llm_process_resident_memory_bytes",
            node="pipeline",
        )
        > 10e6
    )
    assert value(families["edge_llm_process_cpu_percent"], "edge_llm_process_cpu_percent", node="pipeline") >= 0
    assert (
        value(families["edge_llm_network_received_bytes"], "edge_llm_network_received_bytes_total", node="pipeline")
        >= 0
    )
    assert "edge_llm_network_sent_bytes" in families
    assert "edge_llm_temperature_celsius" not in families


def test_temperature_from_thermal_zones(metrics: PipelineMetrics, server: MetricsServer, tmp_path: Path) -> None:
    for i, (kind, milli) in enumerate([("x86_pkg_temp", "47000"), ("CPU-therm", "51500")]):
        zone = tmp_path / f"thermal_zone{i}"
        zone.mkdir()
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(milli + "\n")
    broken = tmp_path / "thermal_zone9"
    broken.mkdir()
    (broken / "temp").write_text("garbage")
    metrics.add_process_collector("pipeline", temperature_source=lambda: read_temperatures(tmp_path, use_psutil=False))
    temps = scrape(server)["edge_llm_temperature_celsius"]
    assert value(temps, "edge_llm_temperature_celsius", sensor="thermal_zone0/x86_pkg_temp") == 47.0
    assert value(temps, "edge_llm_temperature_celsius", sensor="thermal_zone1/CPU-therm") == 51.5
    assert len(temps) == 2


def test_failing_temperature_source_does_not_break_scrape(metrics: PipelineMetrics, server: MetricsServer) -> None:
    def broken() -> dict[str, float]:
        raise OSError("sensor vanished")

    metrics.add_process_collector("pipeline", temperature_source=broken)
    families = scrape(server)
    assert "edge_llm_temperature_celsius" not in families
    assert "edge_llm_process_resident_memory_bytes" in families


def test_default_temperature_reader_on_this_host_does_not_crash() -> None:
    readings = read_temperatures()
    assert all(isinstance(v, float) for v in readings.values())
