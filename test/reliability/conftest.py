"""A short real drive (synthesized rosbag2) shared by the reliability tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_llm_ros.scenes import synthesize


@pytest.fixture(scope="session")
def short_drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reliability") / "drive"
    synthesize(path, scene="traffic", duration_s=3.0, seed=3)
    return path
