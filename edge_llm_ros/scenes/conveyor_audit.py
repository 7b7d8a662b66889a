"""A third scene, to show what adding one takes: this module, its YAML and its launch file.

An audit station at the end of a conveyor where defects are common (60 % of parts) and a part is
judged on its last observations rather than one frame: the conveyor generator, part proposals and
defect classifier of the industrial scene, a decider with per-part memory that records its own
scene name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_llm_ros.decision.scoring import score_industrial
from edge_llm_ros.industrial.decider import IndustrialDecider, InspectionConfig
from edge_llm_ros.msgs import MessageCodec
from edge_llm_ros.scenes.base import Scene
from edge_llm_ros.sim.industrial import IndustrialConfig, IndustrialScene

NAME = "conveyor_audit"
DEFECT_RATE = 0.6


def make_decider(p: Mapping[str, Any]) -> IndustrialDecider:
    """The inspection decider, averaging each part over `industrial.memory` observations."""
    config = InspectionConfig(p["industrial.min_defect_score"], p["industrial.memory"])
    return IndustrialDecider(config, scene=NAME)


def make_generator(duration_s: float, seed: int, faults: bool, codec: MessageCodec) -> IndustrialScene:
    """A conveyor run with more defective parts."""
    config = IndustrialConfig(duration_s=duration_s, seed=seed, faults=faults, defect_rate=DEFECT_RATE)
    return IndustrialScene(config, codec)


SCENE = Scene(
    name=NAME,
    actions=("PASS", "REJECT"),
    make_generator=make_generator,
    make_decider=make_decider,
    score=score_industrial,
    models=("defect_classifier",),
)
