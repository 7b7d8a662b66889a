"""Node kinds by name, imported lazily so a process loads only the models it runs."""

from __future__ import annotations

import importlib

from edge_llm_ros.runtime.managed_node import ManagedNode

NODE_CLASSES: dict[str, str] = {
    "sensor_fusion": "edge_llm_ros.nodes.sensor_fusion:SensorFusionNode",
    "roi_preprocess": "edge_llm_ros.nodes.roi_preprocess:RoiPreprocessNode",
    "vision_inference": "edge_llm_ros.nodes.vision_inference:VisionInferenceNode",
    "decision": "edge_llm_ros.nodes.decision:DecisionNode",
    "llm_inference": "edge_llm_ros.nodes.llm_inference:LlmInferenceNode",
    "lifecycle_manager": "edge_llm_ros.nodes.lifecycle_manager:LifecycleManagerNode",
}


def node_class(kind: str) -> type[ManagedNode]:
    """The ManagedNode subclass for a node kind; unknown kinds list the known ones."""
    try:
        module_name, attr = NODE_CLASSES[kind].split(":")
    except KeyError:
        raise KeyError(f"unknown node kind {kind!r}; known: {sorted(NODE_CLASSES)}") from None
    cls = getattr(importlib.import_module(module_name), attr)
    assert issubclass(cls, ManagedNode)
    return cls
