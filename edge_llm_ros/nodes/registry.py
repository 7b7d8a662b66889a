"""Node kinds by name, imported lazily so a process loads only the models it runs."""

from __future__ import annotations

import importlib

from edge_llm_ros.nodes.kinds import MANAGER_KIND, NODE_CLASSES
from edge_llm_ros.runtime.managed_node import ManagedNode

__all__ = ["MANAGER_KIND", "NODE_CLASSES", "node_class"]


def node_class(kind: str) -> type[ManagedNode]:
    """The ManagedNode subclass for a node kind; unknown kinds list the known ones."""
    try:
        module_name, attr = NODE_CLASSES[kind].split(":")
    except KeyError:
        raise KeyError(f"unknown node kind {kind!r}; known: {sorted(NODE_CLASSES)}") from None
    cls = getattr(importlib.import_module(module_name), attr)
    assert issubclass(cls, ManagedNode)
    return cls
