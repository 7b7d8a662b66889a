"""The launch files: one generic description (pipeline.launch.py), one thin include per scene.

With ROS 2's `launch` and `launch_ros` importable, each launch file is loaded with launch's own
Python API and its arguments are read from the description it returns. Without them, the
scene registry says what must exist: every registered scene has its launch file and its YAML,
and the YAML names only registered node kinds.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from edge_llm_ros.nodes.kinds import MANAGER_KIND, NODE_CLASSES, console_scripts
from edge_llm_ros.runtime.params import load_params_file, params_for_node
from edge_llm_ros.scenes import scene_names

REPO = Path(__file__).resolve().parents[2]
LAUNCH = REPO / "launch"
REQUIRED_ARGUMENTS = {
    "scene",
    "namespace",
    "use_sim_time",
    "model_store",
    "llm",
    "standby_count",
    "params_file",
    "camera_topic",
    "radar_topic",
    "gps_topic",
}


def _launch_importable() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("launch", "launch_ros"))


@pytest.mark.parametrize("scene", scene_names())
def test_every_scene_has_its_launch_file_and_yaml(scene: str) -> None:
    assert (LAUNCH / f"{scene}.launch.py").is_file()
    params = load_params_file(REPO / "config" / f"{scene}.yaml")
    kinds = params_for_node(params, MANAGER_KIND).get("node_names") or []
    assert kinds, f"config/{scene}.yaml names no node under lifecycle_manager.node_names"
    assert set(kinds) <= set(NODE_CLASSES) - {MANAGER_KIND}
    assert params_for_node(params, "decision")["scene"] == scene


def test_node_console_scripts_are_the_node_kinds() -> None:
    scripts = {entry.split(" = ")[0] for entry in console_scripts()}
    assert scripts == set(NODE_CLASSES)
    from edge_llm_ros.hosting import scripts as module

    for kind in NODE_CLASSES:
        assert callable(getattr(module, kind))


def test_generic_launch_description_declares_every_argument() -> None:
    if not _launch_importable():
        pytest.skip("ROS 2 launch/launch_ros are not importable (source a ROS 2 setup.bash)")
    from launch.launch_description_sources import get_launch_description_from_python_launch_file

    description: Any = get_launch_description_from_python_launch_file(str(LAUNCH / "pipeline.launch.py"))
    arguments = {a.name: a for a in description.get_launch_arguments()}
    assert set(arguments) >= REQUIRED_ARGUMENTS
    assert all(a.description for a in arguments.values())


@pytest.mark.parametrize("scene", scene_names())
def test_generic_launch_starts_every_node_of_each_scene(scene: str) -> None:
    if not _launch_importable():
        pytest.skip("ROS 2 launch/launch_ros are not importable (source a ROS 2 setup.bash)")
    from launch.actions import OpaqueFunction
    from launch.launch_context import LaunchContext
    from launch.launch_description_sources import get_launch_description_from_python_launch_file

    description: Any = get_launch_description_from_python_launch_file(str(LAUNCH / "pipeline.launch.py"))
    context = LaunchContext()
    for argument in description.get_launch_arguments():
        argument.visit(context)
    params_file = REPO / "config" / f"{scene}.yaml"
    context.launch_configurations.update(scene=scene, params_file=str(params_file), standby_count="1")
    setup = next(e for e in description.entities if isinstance(e, OpaqueFunction))
    executables = [a.node_executable for a in setup.execute(context) if hasattr(a, "node_executable")]
    kinds = params_for_node(load_params_file(params_file), MANAGER_KIND)["node_names"]
    # Every worker and one standby of each (the LLM is off), then the manager.
    assert sorted(executables) == sorted([*kinds, *kinds, MANAGER_KIND])

