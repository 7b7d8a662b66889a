"""What a scene is: the pieces that differ between a road, a conveyor and the next deployment."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from edge_llm_ros.decision.classified import ClassifiedRoi
from edge_llm_ros.decision.record import DecisionRecord
from edge_llm_ros.fusion.scene import FusedScene
from edge_llm_ros.msgs import MessageCodec
from edge_llm_ros.sim.synth import Scene as DriveGenerator


class Decider(Protocol):
    """The decision node's per-frame logic: a fused scene and its classified ROIs -> one record."""

    def decide(self, scene: FusedScene, detections: list[ClassifiedRoi]) -> DecisionRecord:
        """The frame's decision."""
        ...


#: (duration_s, seed, faults, codec) -> a sample-drive generator (`edge-llm-ros bag synth`).
MakeGenerator = Callable[[float, int, bool, MessageCodec], DriveGenerator]
#: The decision node's parameters -> its decider; ValueError names a bad parameter.
MakeDecider = Callable[[Mapping[str, Any]], Decider]
#: (decisions, ground truth by stamp) -> accuracy figures of the replay report.
Score = Callable[[Sequence[DecisionRecord], Mapping[int, Mapping[str, Any]]], dict[str, Any]]


@dataclass(frozen=True)
class Scene:
    """One scene: registered by name in edge_llm_ros.scenes, configured by config/<name>.yaml.

    The proposals (radar ROIs or segmented parts) and the model are chosen in the YAML; the rest
    that differs is here.
    """

    name: str
    #: Actions a decision of this scene takes (the LLM prompt offers the same).
    actions: tuple[str, ...]
    make_generator: MakeGenerator
    make_decider: MakeDecider
    score: Score
    #: Models `edge-llm-ros demo` prepares for this scene.
    models: tuple[str, ...]

    @property
    def config_file(self) -> str:
        """The scene's parameters file under config/."""
        return f"{self.name}.yaml"

    @property
    def launch_file(self) -> str:
        """The scene's launch file under launch/ (a thin include of pipeline.launch.py)."""
        return f"{self.name}.launch.py"
