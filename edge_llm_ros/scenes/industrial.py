"""The industrial inspection scene: parts on a conveyor, PASS / REJECT per part by defect probability."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_llm_ros.decision.scoring import score_industrial
from edge_llm_ros.industrial.decider import IndustrialDecider, InspectionConfig
from edge_llm_ros.msgs import MessageCodec
from edge_llm_ros.scenes.base import Scene
from edge_llm_ros.sim.industrial import IndustrialConfig, IndustrialScene


def make_decider(p: Mapping[str, Any]) -> IndustrialDecider:
    """The inspection decider from the decision node's parameters (industrial.*)."""
    return IndustrialDecider(InspectionConfig(p["industrial.min_defect_score"], p["industrial.memory"]))


def make_generator(duration_s: float, seed: int, faults: bool, codec: MessageCodec) -> IndustrialScene:
    """A conveyor run: parts, some with a scratch, missing hole, crack, dent or discolouration."""
    return IndustrialScene(IndustrialConfig(duration_s=duration_s, seed=seed, faults=faults), codec)


SCENE = Scene(
    name="industrial",
    actions=("PASS", "REJECT"),
    make_generator=make_generator,
    make_decider=make_decider,
    score=score_industrial,
    models=("defect_classifier",),
)
