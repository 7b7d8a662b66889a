"""Assemble the scene's nodes on one bus (the embedded default: `run`/`replay` with inproc)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_llm_ros.config_files import find_config
from edge_llm_ros.nodes.registry import node_class
from edge_llm_ros.runtime.clock import Clock, SystemClock
from edge_llm_ros.runtime.context import NodeContext, NodeOptions
from edge_llm_ros.runtime.lifecycle import State
from edge_llm_ros.runtime.managed_node import ManagedNode
from edge_llm_ros.runtime.params import ParameterError, load_params_file, params_for_node
from edge_llm_ros.transport.bus import Bus
from edge_llm_ros.transport.qos import QoSCatalog


class PipelineError(RuntimeError):
    """A node failed to come up; the message names it and why."""


@dataclass
class Pipeline:
    """The scene's managed nodes sharing one context."""

    context: NodeContext
    nodes: dict[str, ManagedNode] = field(default_factory=dict)

    def bring_up(self) -> None:
        """Configure then activate every node in order; the first failure raises PipelineError."""
        for name, node in self.nodes.items():
            if node.bring_up() is not State.ACTIVE:
                raise PipelineError(f"node {name!r} did not reach active: {node.last_error or node.state.label}")

    def idle(self) -> bool:
        """No node has queued or running work."""
        return all(node.idle() for node in self.nodes.values())

    def counters(self) -> dict[str, dict[str, int]]:
        """Per-node counters (drops, rejections)."""
        return {name: node.stats() for name, node in self.nodes.items()}

    def shutdown(self) -> None:
        """Shut every node down in reverse order."""
        for node in reversed(list(self.nodes.values())):
            node.destroy()


def scene_config_path(scene: str, config: str | Path | None = None) -> Path:
    """The scene YAML: an explicit path, or the shipped config/<scene>.yaml."""
    return find_config(str(config) if config else f"{scene}.yaml")


def build_pipeline(
    bus: Bus,
    config_path: Path,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    clock: Clock | None = None,
    node_names: list[str] | None = None,
) -> Pipeline:
    """Create (not start) the nodes listed by the lifecycle_manager section of the scene YAML."""
    document = load_params_file(config_path)
    manager = params_for_node(document, "lifecycle_manager")
    names = node_names or manager.get("node_names")
    if not names:
        raise ParameterError(f"{config_path}: lifecycle_manager.node_names lists no nodes")
    context = NodeContext(
        bus=bus,
        clock=clock or SystemClock(),
        qos=QoSCatalog.from_yaml(find_config("qos.yaml")),
        params_document=document,
    )
    pipeline = Pipeline(context)
    for name in names:
        options = NodeOptions(name, parameter_overrides=dict((overrides or {}).get(name, {})))
        pipeline.nodes[name] = node_class(name)(context, options)
    return pipeline
