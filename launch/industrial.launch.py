"""Launch the edge_llm_ros industrial inspection pipeline under ROS 2.

    ros2 launch edge_llm_ros industrial.launch.py --show-args
    ros2 launch edge_llm_ros industrial.launch.py standby_count:=1

The same nodes, standbys, manager and arguments as traffic.launch.py (whose module docstring
describes them), with the parameters of config/industrial.yaml. The description is built by
traffic.launch.py's `scene_launch_description`, loaded from this file's own directory (both are
installed side by side in share/edge_llm_ros/launch), so the two scenes never drift apart.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from launch.launch_description import LaunchDescription

SCENE = "industrial"
PARAMS_FILE = "config/industrial.yaml"
SHARED_LAUNCH_FILE = "traffic.launch.py"


def _shared() -> ModuleType:
    path = Path(__file__).with_name(SHARED_LAUNCH_FILE)
    spec = importlib.util.spec_from_file_location("edge_llm_ros_traffic_launch", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generate_launch_description() -> LaunchDescription:
    """Entry point of `ros2 launch edge_llm_ros industrial.launch.py`."""
    description: LaunchDescription = _shared().scene_launch_description(SCENE)
    return description
