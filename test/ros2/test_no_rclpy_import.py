"""The package and every node module import, and run their non-ROS paths, without rclpy.

Runs in a fresh interpreter with an import hook that refuses (and records) any import of rclpy
or of a ROS 2 Python package, so the check means the same on a machine with ROS 2 sourced.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import importlib, importlib.abc, json, pkgutil, sys

    BLOCKED = ("rclpy", "rcl_interfaces", "rosidl_runtime_py", "launch_ros", "launch_testing", "lifecycle_msgs")
    attempts = []

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                attempts.append(name)
                raise ImportError(f"{name} is blocked: this test runs as if ROS 2 were absent")
            return None

    sys.meta_path.insert(0, Refuse())
    modules = ["edge_llm_ros", "edge_llm_ros.transport.factory", "edge_llm_ros.cli.main"]
    import edge_llm_ros.nodes
    modules += [f"edge_llm_ros.nodes.{m.name}" for m in pkgutil.iter_modules(edge_llm_ros.nodes.__path__)]
    from edge_llm_ros.nodes.registry import NODE_CLASSES
    modules += [target.split(":")[0] for target in NODE_CLASSES.values()]
    failed = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"
    attempted_by_imports = list(attempts)
    # Asking for the ros2 bus without ROS 2 is a clear TransportError, not an ImportError.
    from edge_llm_ros.transport.bus import TransportError
    from edge_llm_ros.transport.factory import create_bus
    try:
        create_bus("ros2")
        ros2_bus = "created"
    except TransportError as exc:
        ros2_bus = str(exc)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    print(json.dumps({"modules": sorted(set(modules)), "failed": failed, "attempts": attempted_by_imports,
                      "loaded": loaded, "ros2_bus": ros2_bus}))
    """
)


def test_package_and_node_modules_import_without_rclpy() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert "edge_llm_ros.nodes.decision" in report["modules"]
    assert report["failed"] == {}
    # Importing the package and its nodes never even tries rclpy (only create_bus("ros2") does).
    assert report["attempts"] == []
    assert report["loaded"] == []
    assert "rclpy not available" in report["ros2_bus"]
