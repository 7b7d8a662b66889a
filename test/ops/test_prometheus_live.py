"""A real Prometheus scrapes a paced replay and a running manager; every dashboard query returns series.

Processes: the replay (`edge-llm-ros replay --rate 1.0 --metrics-port`, with the LLM advisory
sidecar on a tiny test model), `edge-llm-ros run --transport inproc --metrics-port` (the
lifecycle manager's events and roles), and Prometheus on 127.0.0.1 with a temp TSDB. All are
started in their own process groups and stopped at the end, also on failure.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from edge_llm_ros.config_files import find_config
from edge_llm_ros.models.store import ModelStore
from edge_llm_ros.ops.monitoring.dashboard import dashboard_queries, load_committed
from edge_llm_ros.ops.monitoring.prometheus_server import PrometheusServer, find_prometheus, free_port
from edge_llm_ros.scenes import synthesize
from edge_llm_ros.telemetry.metrics import read_temperatures

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_prometheus() is None, reason="prometheus not installed (apt-get install prometheus)"),
]
ROOT = Path(__file__).resolve().parents[2]
#: Bound on the wait for series once Prometheus runs; the 60 s paced drive outlasts it.
SERIES_TIMEOUT_S = 40.0


@contextlib.contextmanager
def _process(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True)
    try:
        yield proc
    finally:
        # SIGINT first: the CLI's finally blocks stop the LLM sidecar and the nodes cleanly.
        for sig, wait_s in ((signal.SIGINT, 20.0), (signal.SIGKILL, 10.0)):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(wait_s)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything left in the group (the LLM sidecar)


def _wait_for_metrics(port: int, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 120.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.5)
    raise AssertionError(f"no /metrics on {port}: {log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def tiny_llm(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A tiny LLM for the advisory panels; None without '.[llm]' (those panels are then not checked)."""
    if any(importlib.util.find_spec(m) is None for m in ("onnxruntime_genai", "transformers")):
        return None
    from edge_llm_ros.llm.builder import build_tiny_test_model

    return build_tiny_test_model(tmp_path_factory.mktemp("llm") / "tiny")


def test_every_dashboard_query_returns_series(
    tiny_llm: Path | None, sample_model_store: ModelStore, tmp_path: Path
) -> None:
    drive = tmp_path / "drive"
    synthesize(drive, scene="traffic", duration_s=60.0, seed=3, faults=True)
    manager_config = tmp_path / "manager.yaml"
    document = yaml.safe_load(find_config("traffic.yaml").read_text(encoding="utf-8"))
    document["lifecycle_manager"]["ros__parameters"]["node_names"] = ["decision"]
    manager_config.write_text(yaml.safe_dump(document), encoding="utf-8")
    replay_port, run_port = free_port(), free_port()
    cli = [sys.executable, "-m", "edge_llm_ros.cli.main"]
    replay_argv = [
        *cli,
        "replay",
        str(drive),
        "--rate",
        "1.0",
        "--metrics-port",
        str(replay_port),
        "--model-store",
        str(sample_model_store.root),
        "--report",
        str(tmp_path / "report"),
    ]
    if tiny_llm is not None:
        replay_argv += [
            "--llm",
            "-p",
            f"llm_inference.model_dir:={tiny_llm}",
            "-p",
            "llm_inference.max_new_tokens:=400",
            "-p",
            # Short explanations: the tiny model's guided output then always completes (and is published).
            "llm_inference.max_explanation_chars:=20",
            "-p",
            "llm_inference.deadline_s:=30.0",
            "-p",
            "decision.llm.rate_hz:=1.0",
        ]
    run_argv = [*cli, "run", "--transport", "inproc", "--config", str(manager_config), "--metrics-port", str(run_port)]
    run_argv += ["--duration", "600"]
    queries = dashboard_queries(load_committed())
    # Where the OS exposes no temperature sensor (containers, VMs) the family is absent by design.
    no_sensor = not read_temperatures()
    expected = [
        (where, q)
        for where, q in queries
        if not (no_sensor and "temperature" in q) and not (tiny_llm is None and ":llm_" in q)
    ]
    with (
        _process(replay_argv, tmp_path / "replay.log") as replay,
        _process(run_argv, tmp_path / "run.log") as run,
    ):
        _wait_for_metrics(replay_port, replay, tmp_path / "replay.log")
        _wait_for_metrics(run_port, run, tmp_path / "run.log")
        with PrometheusServer(
            [f"127.0.0.1:{replay_port}", f"127.0.0.1:{run_port}"], scrape_interval_s=1.0, data_dir=tmp_path / "prom"
        ) as prometheus:
            empty = expected
            deadline = time.monotonic() + SERIES_TIMEOUT_S
            while empty and time.monotonic() < deadline:
                assert replay.poll() is None, (tmp_path / "replay.log").read_text(errors="replace")[-3000:]
                time.sleep(2.0)
                empty = [(where, q) for where, q in empty if not prometheus.query(q)]
            targets = prometheus.api("targets")["activeTargets"]
            rules = prometheus.api("rules")["groups"]
    assert not empty, f"{len(empty)} of {len(expected)} queries returned no series: {empty}"
    assert sorted(t["health"] for t in targets) == ["up", "up"]
    health = {rule["name"]: rule["health"] for group in rules for rule in group["rules"]}
    assert len(health) == 24
    assert set(health.values()) == {"ok"}, health
