"""The traffic scene: radar-attributed road users, CONTINUE / SLOW_DOWN / BRAKE by time to collision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_llm_ros.decision.scoring import score_traffic
from edge_llm_ros.decision.traffic import TrafficDecider
from edge_llm_ros.decision.traffic_rules import TrafficRuleConfig
from edge_llm_ros.msgs import MessageCodec
from edge_llm_ros.scenes.base import Scene
from edge_llm_ros.sim.traffic import TrafficConfig, TrafficScene


def make_decider(p: Mapping[str, Any]) -> TrafficDecider:
    """The traffic decider from the decision node's parameters."""
    if p["brake_ttc_s"] > p["caution_ttc_s"]:
        raise ValueError("brake_ttc_s must not exceed caution_ttc_s")
    if len(p["radar_class_codes"]) != len(p["radar_class_names"]):
        raise ValueError("radar_class_codes and radar_class_names must have the same length")
    rules = TrafficRuleConfig(p["brake_ttc_s"], p["caution_ttc_s"], p["vulnerable_ttc_factor"], p["vulnerable_range_m"])
    radar_classes = dict(zip(p["radar_class_codes"], p["radar_class_names"], strict=True))
    return TrafficDecider(rules, p["min_class_score"], radar_classes=radar_classes)


def make_generator(duration_s: float, seed: int, faults: bool, codec: MessageCodec) -> TrafficScene:
    """A drive with camera, radar and GPS consistent with each other, and its ground truth."""
    return TrafficScene(TrafficConfig(duration_s=duration_s, seed=seed, faults=faults), codec)


SCENE = Scene(
    name="traffic",
    actions=("CONTINUE", "SLOW_DOWN", "BRAKE"),
    make_generator=make_generator,
    make_decider=make_decider,
    score=score_traffic,
    models=("roi_classifier", "person_detector"),
)
