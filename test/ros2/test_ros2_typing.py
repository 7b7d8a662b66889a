"""ros2_bus.py and ros2_host.py type-check against rclpy's own sources (rclpy-intellisense).

The project's mypy run treats rclpy as untyped (it ships no py.typed, and ROS 2 is not on the
registries), which would let a wrong rclpy call through. rclpy-intellisense carries rclpy's
Python sources: with them on MYPYPATH, mypy checks our calls against rclpy's real signatures.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULES = (
    "edge_llm_ros/transport/ros2_bus.py",
    "edge_llm_ros/transport/ros2_entities.py",
    "edge_llm_ros/hosting/ros2_host.py",
)


def test_rclpy_glue_type_checks_against_rclpy_sources(tmp_path: Path) -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    try:
        rclpy_dir = Path(str(importlib.metadata.distribution("rclpy-intellisense").locate_file("rclpy")))
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("rclpy-intellisense is not installed (pip install -e '.[dev]')")
    # Only rclpy on MYPYPATH: the rest of site-packages stays as the project's mypy sees it.
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "rclpy").symlink_to(rclpy_dir, target_is_directory=True)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", "--cache-dir", str(tmp_path / "cache"), *MODULES],
        cwd=REPO,
        env={**os.environ, "MYPYPATH": str(tmp_path / "src")},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
