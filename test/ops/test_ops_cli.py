"""End to end through the commands: `run --ops-port ... --blackbox` on loopback, `ops ...` against it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("grpc", reason="remote operations need grpcio (pip install -e '.[ops]')")
pytest.importorskip("cryptography", reason="certificates need cryptography (pip install -e '.[ops]')")

from edge_llm_ros.cli.main import main
from edge_llm_ros.config_files import find_config
from edge_llm_ros.ops.monitoring.prometheus_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_run_serves_ops_and_the_ops_commands_use_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    certs = tmp_path / "certs"
    assert main(["ops", "certs", "--out", str(certs), "--client", "alice:operator", "--client", "bob:read-only"]) == 0
    config = tmp_path / "scene.yaml"
    document = yaml.safe_load(find_config("traffic.yaml").read_text(encoding="utf-8"))
    document["lifecycle_manager"]["ros__parameters"]["node_names"] = ["decision"]
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    port = free_port()
    argv = [sys.executable, "-m", "edge_llm_ros.cli.main", "run", "--transport", "inproc", "--config", str(config)]
    argv += ["--duration", "120", "--run-dir", str(tmp_path / "run"), "--blackbox", str(tmp_path / "bb")]
    argv += ["--ops-port", str(port), "--ops-cert", str(certs / "server.crt"), "--ops-key", str(certs / "server.key")]
    argv += ["--ops-ca", str(certs / "ca.crt")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60.0
        while b"ops: grpcs://" not in log.read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        capsys.readouterr()

        def ops(*args: str, who: str = "alice") -> int:
            common = ["--target", f"127.0.0.1:{port}", "--ca", str(certs / "ca.crt")]
            common += ["--cert", str(certs / f"{who}.crt"), "--key", str(certs / f"{who}.key")]
            return main(["ops", *args, *common])

        assert ops("status", who="bob") == 0
        status = json.loads(capsys.readouterr().out)
        assert status["nodes"][0]["instances"][0]["role"] == "active"
        assert ops("swap", "decision", "x@1", who="bob") == 2
        assert "PERMISSION_DENIED" in capsys.readouterr().err
        assert ops("lifecycle", "stop") == 0
        assert ops("lifecycle", "start") == 0
        assert ops("metrics") == 0
        assert "edge_llm_manager_instances" in capsys.readouterr().out
        assert ops("blackbox") == 2  # nothing crossed the bus yet
        assert "FAILED_PRECONDITION" in capsys.readouterr().err
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    assert proc.returncode == 0, log.read_text(errors="replace")
    audit = [json.loads(line) for line in (tmp_path / "run" / "ops_audit.log").read_text(encoding="utf-8").splitlines()]
    assert [(e["client"], e["method"], e["outcome"]) for e in audit] == [
        ("bob", "Status", "ok"),
        ("bob", "Swap", "permission_denied"),
        ("alice", "Lifecycle", "ok"),
        ("alice", "Lifecycle", "ok"),
        ("alice", "Metrics", "ok"),
        ("alice", "BlackBoxDump", "failed_precondition"),
    ]
