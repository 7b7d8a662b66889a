"""Node instances in this process: the `Spawner` of the embedded, one-process mode (`run --transport inproc`)."""

from __future__ import annotations

import threading

from edge_llm_ros.manager.spawner import InstanceSpec
from edge_llm_ros.runtime.context import NodeContext, NodeOptions
from edge_llm_ros.runtime.managed_node import ManagedNode
from edge_llm_ros.runtime.params import params_for_node


class InprocSpawner:
    """`Spawner` that creates node objects on a shared context (the embedded, one-process mode).

    Each instance gets its kind's section of the params document plus the spec's overrides, so a
    standby named e.g. `vision_inference_standby_1` runs with the `vision_inference` parameters.
    """

    def __init__(self, context: NodeContext) -> None:
        self.context = context
        self.nodes: dict[str, ManagedNode] = {}
        self._lock = threading.Lock()

    def spawn(self, spec: InstanceSpec) -> None:
        """Construct the node (unconfigured); its heartbeat starts at once."""
        from edge_llm_ros.nodes.registry import node_class

        self.kill(spec.name)
        overrides = params_for_node(self.context.params_document, spec.kind, spec.namespace)
        overrides.update(spec.overrides)
        node = node_class(spec.kind)(self.context, NodeOptions(spec.name, spec.namespace, overrides))
        with self._lock:
            self.nodes[spec.name] = node

    def kill(self, name: str) -> None:
        """Destroy the node: it stops publishing and leaves the bus at once."""
        with self._lock:
            node = self.nodes.pop(name, None)
        if node is not None:
            node.destroy()

    def stop(self, name: str, timeout_s: float) -> None:
        """Same as kill in one process (destroy runs the shutdown transition)."""
        self.kill(name)

    def exited(self) -> list[str]:
        """Nothing exits on its own in one process."""
        return []

    def stop_all(self) -> None:
        """Destroy every node."""
        for name in list(self.nodes):
            self.kill(name)
