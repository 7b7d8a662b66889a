"""Short generated bags shared by the sim tests (generated once per session: ~1 s each)."""

from __future__ import annotations

import pytest

from edge_llm_ros.scenes import synthesize
from edge_llm_ros.sim import SynthResult

TRAFFIC_S = 3.0
INDUSTRIAL_S = 2.5


@pytest.fixture(scope="session")
def traffic_bag(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return synthesize(tmp_path_factory.mktemp("traffic") / "bag", scene="traffic", duration_s=TRAFFIC_S, seed=0)


@pytest.fixture(scope="session")
def traffic_bag_again(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return synthesize(tmp_path_factory.mktemp("traffic2") / "bag", scene="traffic", duration_s=TRAFFIC_S, seed=0)


@pytest.fixture(scope="session")
def faults_bag(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return synthesize(tmp_path_factory.mktemp("faults") / "bag", scene="traffic", duration_s=2.0, seed=3, faults=True)


@pytest.fixture(scope="session")
def industrial_bag(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return synthesize(
        tmp_path_factory.mktemp("industrial") / "bag",
        scene="industrial",
        duration_s=INDUSTRIAL_S,
        seed=1,
        storage="sqlite3",
    )
