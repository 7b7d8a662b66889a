"""Whether the ROS 2 launch tests can run on this machine, and why not when they cannot.

Shared by conftest.py (which keeps launch_testing from importing a launch test that must not run)
and by the launch test modules themselves (which skip with the reason when pytest imports them).
"""

from __future__ import annotations

import functools
import importlib
import os
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

PACKAGE = "edge_llm_ros"
#: Launch test module -> scene it runs.
LAUNCH_TESTS = {"test_traffic_launch.py": "traffic", "test_industrial_launch.py": "industrial"}
CYCLONEDDS_CONFIG = "cyclonedds_localhost.xml"
#: Distros that only know ROS_LOCALHOST_ONLY (Iron introduced ROS_AUTOMATIC_DISCOVERY_RANGE).
LOCALHOST_ONLY_DISTROS = frozenset({"foxy", "galactic", "humble"})
ROS_MODULES = ("launch_testing", "launch_ros", "rclpy", "rosidl_runtime_py", "ament_index_python")


def _importable(module: str) -> str | None:
    try:
        importlib.import_module(module)
    except ImportError as exc:  # rclpy-intellisense installs an rclpy that fails here: no ROS 2
        return f"{module} is not importable ({exc})"
    return None


@functools.cache
def launch_testing_importable() -> bool:
    """launch_testing present (then its pytest plugin imports every test_*.py it collects)."""
    return _importable("launch_testing") is None


@functools.cache
def ros2_missing() -> str | None:
    """Why ROS 2 (launch_testing, launch_ros, rclpy, ...) cannot be used here, or None.

    `launch` itself is not probed: from the repository root, the launch/ directory imports as
    a namespace package when ROS 2 is absent (a real `launch` package always wins over it).
    """
    for module in ROS_MODULES:
        why = _importable(module)
        if why is not None:
            return f"ROS 2 is not installed or not sourced: {why}"
    return None


def share_directory() -> Path:
    """The installed share directory of this package (colcon build + source install/setup.bash)."""
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory(PACKAGE))


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def scene_models(params_file: Path) -> list[str]:
    """Model names a scene's params file asks for (every `model` / `*.model` string parameter)."""
    document = yaml.safe_load(params_file.read_text(encoding="utf-8")) or {}
    models = set()
    for section in document.values():
        params = section.get("ros__parameters") if isinstance(section, Mapping) else None
        for name, value in _flatten(params or {}):
            if (name == "model" or name.endswith(".model")) and isinstance(value, str) and value:
                models.add(value)
    return sorted(models)


def launch_test_skip_reason(scene: str) -> str | None:
    """Why the launch test of `scene` cannot run here, or None when it can."""
    why = ros2_missing()
    if why is not None:
        return why
    try:
        share = share_directory()
    except LookupError:  # ament_index_python's PackageNotFoundError
        return f"{PACKAGE} is not in the ament index: colcon build it and source install/setup.bash"
    params_file = share / "config" / f"{scene}.yaml"
    if not params_file.is_file():
        return f"{params_file} is not installed: the {scene} scene has no config yet"
    from edge_llm_ros.models.errors import ModelError
    from edge_llm_ros.models.store import ModelStore

    store = ModelStore()
    for model in scene_models(params_file):
        try:
            store.resolve(model)
        except ModelError as exc:
            return f"model {model!r} is not in the model store {store.root} ({exc}): run `edge-llm-ros models prepare`"
    return None


def isolate_ros_environment() -> int:
    """DDS on loopback only, on a domain of its own; returns the domain id.

    Launched processes inherit this environment, so the test and the nodes meet there and
    nowhere else (a concurrent run on the machine picks another domain).
    """
    if os.environ.get("ROS_DISTRO", "") in LOCALHOST_ONLY_DISTROS:
        os.environ["ROS_LOCALHOST_ONLY"] = "1"
    else:
        # Iron and later: ROS_LOCALHOST_ONLY=1 is deprecated and, when set, wins over (and
        # silences) ROS_AUTOMATIC_DISCOVERY_RANGE: leave only the current variable.
        os.environ.pop("ROS_LOCALHOST_ONLY", None)
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if os.environ.get("RMW_IMPLEMENTATION", "rmw_cyclonedds_cpp") == "rmw_cyclonedds_cpp":
        # Without multicast on lo, Cyclone finds at most 10 local participants (the launch test
        # runs 11): the package's config lifts that (see config/cyclonedds_localhost.xml).
        os.environ.setdefault("CYCLONEDDS_URI", (share_directory() / "config" / CYCLONEDDS_CONFIG).as_uri())
    domain = random.randint(1, 100)
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    return domain
