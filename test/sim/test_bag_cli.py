"""`bag synth` and `bag info` through argparse, as the edge-llm-ros entry point wires them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from edge_llm_ros.cli import bag


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="edge-llm-ros")
    bag.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_synth_then_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = ["bag", "synth", "--scene", "industrial", "--duration", "1", "--seed", "4", "--out", str(out)]
    assert _run([*argv, "--no-progress"]) == 0
    assert "industrial, 10 frames" in capsys.readouterr().out
    assert _run(["bag", "info", str(out)]) == 0
    table = capsys.readouterr().out
    assert "/camera/image_raw" in table and "sensor_msgs/msg/Image" in table and "10.00" in table


def test_synth_refuses_existing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bag", "synth", "--scene", "traffic", "--duration", "0.2", "--out", str(tmp_path), "--no-progress"]
    assert _run(argv) == 1
    assert "exists" in capsys.readouterr().err


def test_info_on_broken_bag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "metadata.yaml").write_text("rosbag2_bagfile_information: {version: 8}\n")
    assert _run(["bag", "info", str(tmp_path)]) == 1
    assert "truncated or corrupt" in capsys.readouterr().err


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(SystemExit):
        _run(["bag", "synth", "--duration", "-1", "--out", "x"])
    with pytest.raises(SystemExit):
        _run(["bag", "synth", "--scene", "mars", "--out", "x"])
