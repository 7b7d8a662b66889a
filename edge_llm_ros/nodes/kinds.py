"""The node kinds: the one list that setup.py, the registry and the launch description read.

A kind is also the console script (`ros2 run edge_llm_ros <kind>`), the executable a launch file
starts and the default node name. This module imports nothing, so setup.py can run it before the
package's dependencies are installed.
"""

from __future__ import annotations

#: kind -> "module:class" of its ManagedNode subclass (imported lazily by nodes.registry).
NODE_CLASSES: dict[str, str] = {
    "sensor_fusion": "edge_llm_ros.nodes.sensor_fusion:SensorFusionNode",
    "roi_preprocess": "edge_llm_ros.nodes.roi_preprocess:RoiPreprocessNode",
    "vision_inference": "edge_llm_ros.nodes.vision_inference:VisionInferenceNode",
    "decision": "edge_llm_ros.nodes.decision:DecisionNode",
    "llm_inference": "edge_llm_ros.nodes.llm_inference:LlmInferenceNode",
    "lifecycle_manager": "edge_llm_ros.nodes.lifecycle_manager:LifecycleManagerNode",
}

#: The kind that manages the others (it is not itself managed, nor given standbys).
MANAGER_KIND = "lifecycle_manager"

#: Where the console script of every kind points (see hosting/scripts.py).
SCRIPTS_MODULE = "edge_llm_ros.hosting.scripts"


def console_scripts() -> list[str]:
    """setup.py's console_scripts entries for the node kinds."""
    return [f"{kind} = {SCRIPTS_MODULE}:{kind}" for kind in NODE_CLASSES]
