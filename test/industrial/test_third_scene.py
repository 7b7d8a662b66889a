"""A third scene from one module, one YAML and one launch file (edge_llm_ros/scenes/conveyor_audit.py).

Registered once, it is known to the command line, the decision node and the replay report, writes
its own sample drives and is replayed like the shipped scenes. Inproc, real model, real bag.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_llm_ros.app.replay.report import write_replay_report
from edge_llm_ros.app.replay.session import ReplayOptions, run_replay
from edge_llm_ros.cli.main import build_parser
from edge_llm_ros.models.store import ModelStore
from edge_llm_ros.nodes.decision import DecisionNode
from edge_llm_ros.scenes import get_scene, scene_names, synthesize

pytestmark = pytest.mark.slow

SCENE = "conveyor_audit"
REPO = Path(__file__).resolve().parents[2]


def test_the_scene_is_registered_everywhere_from_one_place() -> None:
    assert SCENE in scene_names()
    scene = get_scene(SCENE)
    assert (REPO / "config" / scene.config_file).is_file() and (REPO / "launch" / scene.launch_file).is_file()
    assert SCENE in DecisionNode.parameter_schema().specs["scene"].choices
    args = build_parser().parse_args(["replay", "drive", "--scene", SCENE])
    assert args.scene == SCENE


def test_the_third_scene_replays_and_is_scored(defect_store: ModelStore, tmp_path: Path) -> None:
    drive = synthesize(tmp_path / "drive", scene=SCENE, duration_s=3.0, seed=21)
    assert drive.scene == SCENE and drive.frames == 30
    outcome = run_replay(ReplayOptions(bag=drive.path, scene=SCENE, model_store=str(defect_store.root)))
    result = outcome.result
    assert sorted(d.stamp_ns for d in result.decisions) == sorted(result.injected_ns)
    assert {d.scene for d in result.decisions} == {SCENE}
    assert {d.action for d in result.decisions} <= set(get_scene(SCENE).actions)
    _paths, report, _table = write_replay_report(
        result, tmp_path / "report", scene=SCENE, batch_sizes=outcome.batch_sizes, counters=outcome.counters,
        metadata={},
    )
    assert report["accuracy"]["reject"]["tp"] > 0, report["accuracy"]
