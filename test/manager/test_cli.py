"""`edge-llm-ros run`, `lifecycle` and `swap` through their argument parsers."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import pytest
import yaml

from edge_llm_ros.app.run_session import RunOptions, RunSession
from edge_llm_ros.cli import bench_lifecycle, run, swap


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge-llm-ros")
    sub = p.add_subparsers()
    for module in (run, swap, bench_lifecycle):
        module.register(sub)
    return p


@pytest.fixture
def small_scene(tmp_path: Path) -> Path:
    from edge_llm_ros.config_files import find_config

    document = yaml.safe_load(find_config("traffic.yaml").read_text(encoding="utf-8"))
    document["lifecycle_manager"]["ros__parameters"]["node_names"] = ["sensor_fusion", "decision"]
    path = tmp_path / "scene.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_run_inproc_for_a_while(small_scene: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(
        ["run", "--config", str(small_scene), "--transport", "inproc", "--standby", "decision=1", "--duration", "0.3"]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "decision_standby_1" in out and "standby" in out and "running (inproc)" in out


def test_run_options_from_arguments(small_scene: Path) -> None:
    args = parser().parse_args(
        [
            "run",
            "--config",
            str(small_scene),
            "--set",
            "heartbeat_timeout_s:=0.08",
            "-p",
            "vision_inference.intra_op_threads:=2",
            "--model-store",
            "/tmp/store",
        ]
    )
    options = run.options_from_args(args)
    assert options.manager_params["heartbeat_timeout_s"] == 0.08
    assert options.manager_params["model_store"] == "/tmp/store"
    assert options.node_params["vision_inference"] == {"intra_op_threads": 2, "model_store": "/tmp/store"}
    with pytest.raises(SystemExit):
        run.options_from_args(parser().parse_args(["run", "-p", "no_dot:=1"]))


def test_bad_config_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"lifecycle_manager": {"ros__parameters": {"node_names": ["nope"]}}}))
    args = parser().parse_args(["run", "--config", str(bad), "--transport", "inproc", "--duration", "0.1"])
    assert args.func(args) == 2
    assert "unknown kinds ['nope']" in capsys.readouterr().err


@pytest.mark.slow
def test_lifecycle_and_swap_clients_over_zenoh(
    small_scene: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from .test_processes import free_port

    zenoh = {"hub": f"tcp/127.0.0.1:{free_port()}", "domain_id": random.randint(1, 232)}
    zenoh_file = tmp_path / "zenoh.yaml"
    zenoh_file.write_text(yaml.safe_dump(zenoh), encoding="utf-8")
    options = RunOptions(config=small_scene, transport="zenoh", standbys={"decision": 1}, zenoh=zenoh)
    with RunSession(options):
        common = ["--zenoh-config", str(zenoh_file), "--timeout", "20"]
        args = parser().parse_args(["lifecycle", "status", *common])
        assert args.func(args) == 0
        assert "decision_standby_1" in capsys.readouterr().out
        args = parser().parse_args(["lifecycle", "status", "--json", *common])
        assert args.func(args) == 0
        status = json.loads(capsys.readouterr().out)
        assert status["running"] is True
        args = parser().parse_args(["swap", "decision", "x@1", *common])
        assert args.func(args) == 1  # validation refuses a model the store does not have
        out = capsys.readouterr().out
        assert out.startswith("rejected:") and "is not in the store" in out
        args = parser().parse_args(["lifecycle", "stop", *common])
        assert args.func(args) == 0
    args = parser().parse_args(["lifecycle", "status", "--zenoh-config", str(zenoh_file), "--timeout", "0.5"])
    assert args.func(args) == 2  # nobody answers any more
