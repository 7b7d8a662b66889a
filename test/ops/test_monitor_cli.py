"""`edge-llm-ros monitor`: prints a config promtool accepts, or runs Prometheus on loopback."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from edge_llm_ros.cli.main import main
from edge_llm_ros.ops.monitoring.prometheus_server import find_prometheus
from edge_llm_ros.telemetry.manager_metrics import ManagerCollector
from edge_llm_ros.telemetry.outcome_metrics import OutcomeMetrics


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")
def test_print_config_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["monitor", "--print-config", "--target", "127.0.0.1:9100", "--target", "127.0.0.1:9101"]
    assert main([*argv, "--alertmanager", "127.0.0.1:9093"]) == 0
    text = capsys.readouterr().out
    config = tmp_path / "prometheus.yml"
    config.write_text(text, encoding="utf-8")
    result = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "127.0.0.1:9093" in text


@pytest.mark.skipif(find_prometheus() is None, reason="prometheus not installed (apt-get install prometheus)")
def test_monitor_runs_prometheus_for_a_bounded_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "tsdb"
    assert main(["monitor", "--port", "0", "--duration", "2", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("prometheus: http://127.0.0.1:") and "scraping 127.0.0.1:9100" in out
    assert (data / "prometheus.yml").exists()  # a given data dir is kept


def test_bad_target_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitor", "--print-config", "--target", "no-port"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err


def test_manager_and_outcome_families() -> None:
    registry = CollectorRegistry()
    status = {
        "counters": {"failovers": 2, "respawns": 3, "swaps": 1, "rollbacks": 0},
        "nodes": [{"node": "decision", "instances": [{"name": "decision", "role": "active", "respawns": 3}]}],
    }
    registry.register(ManagerCollector(lambda: status))
    outcomes = OutcomeMetrics(registry)
    outcomes.observe_decision("decision", "BRAKE")
    assert outcomes.observe_advisory("decision", {"latency_s": 0.5, "generated_tokens": 40})
    assert not outcomes.observe_advisory("decision", {"latency_s": "slow"})
    text = generate_latest(registry).decode()
    assert 'edge_llm_manager_events_total{event="failover"} 2.0' in text
    assert 'edge_llm_manager_instance_respawns_total{instance="decision",node="decision"} 3.0' in text
    assert 'edge_llm_manager_instances{node="decision",role="active"} 1.0' in text
    assert 'edge_llm_decisions_total{action="BRAKE",node="decision"} 1.0' in text
    assert 'edge_llm_llm_generated_tokens_total{node="decision"} 40.0' in text
    assert 'edge_llm_llm_advisory_latency_seconds_count{node="decision"} 1.0' in text
