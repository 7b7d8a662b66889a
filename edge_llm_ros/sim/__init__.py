"""Sample drives: deterministic traffic and conveyor scenes written as rosbag2 with ground truth.

Entry point: `edge_llm_ros.scenes.synthesize(out, scene=..., duration_s=..., seed=...)`; here the
generators (sim.traffic, sim.industrial) and the scene-agnostic bag writer (sim.synth.write_scene).
The traffic ground truth applies the shared warning rule (`edge_llm_ros.decision.traffic_rules`)
via `edge_llm_ros.sim.rules`; the ground-truth JSON schema is in `edge_llm_ros.sim.ground_truth`;
camera intrinsics and the radar-to-camera extrinsic in `edge_llm_ros.sim.calibration`.
"""

from edge_llm_ros.sim.calibration import TRAFFIC_CALIBRATION, Calibration, Extrinsic, PinholeCamera
from edge_llm_ros.sim.rules import ObjectClass, assess, class_from_radar
from edge_llm_ros.sim.synth import SynthResult, write_scene

__all__ = [
    "TRAFFIC_CALIBRATION",
    "Calibration",
    "Extrinsic",
    "ObjectClass",
    "PinholeCamera",
    "SynthResult",
    "assess",
    "class_from_radar",
    "write_scene",
]
