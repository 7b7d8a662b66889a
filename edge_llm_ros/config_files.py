"""Locate the shipped config/ files from a source checkout, a pip install or a colcon install."""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path


class ConfigNotFoundError(FileNotFoundError):
    """No config file of that name in any known location."""


def config_dirs() -> list[Path]:
    """Candidate config directories, most specific first."""
    dirs = []
    if env := os.environ.get("EDGE_LLM_ROS_CONFIG_DIR"):
        dirs.append(Path(env))
    dirs.append(Path(__file__).resolve().parent.parent / "config")  # source checkout / editable install
    # pip puts data_files under the install prefix: a venv, the interpreter's own, or --user
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix, site.getuserbase())):
        dirs.append(Path(prefix) / "share" / "edge_llm_ros" / "config")
    try:  # colcon / ROS 2 install
        from ament_index_python.packages import get_package_share_directory

        dirs.append(Path(get_package_share_directory("edge_llm_ros")) / "config")
    except Exception:  # ament_index absent or package not in the index: not a ROS install
        pass
    return dirs


def find_config(name: str) -> Path:
    """A config file by name (e.g. 'traffic.yaml'); a path that exists is returned as is."""
    candidate = Path(name)
    if candidate.exists():
        return candidate
    for directory in config_dirs():
        if (directory / name).is_file():
            return directory / name
    raise ConfigNotFoundError(f"config {name!r} not found in {[str(d) for d in config_dirs()]}")
