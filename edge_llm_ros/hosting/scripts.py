"""Console scripts of the node kinds: `ros2 run edge_llm_ros <kind>` and the launch files start these.

setup.py points every kind of nodes/kinds.py at an attribute of this module named after it; the
attribute is made on first access, so adding a kind needs no edit here.
"""

from __future__ import annotations

from collections.abc import Callable

from edge_llm_ros.nodes.kinds import NODE_CLASSES


def script(kind: str) -> Callable[[list[str] | None], int]:
    """The console entry point of one node kind (`--ros-args` hosts it under rclpy)."""
    if kind not in NODE_CLASSES:
        raise KeyError(f"unknown node kind {kind!r}; known: {sorted(NODE_CLASSES)}")

    def main(argv: list[str] | None = None) -> int:
        from edge_llm_ros.hosting.process import run_node
        from edge_llm_ros.nodes.registry import node_class

        return run_node(node_class(kind), kind, argv)

    main.__name__ = main.__qualname__ = kind
    return main


def __getattr__(name: str) -> Callable[[list[str] | None], int]:
    # PEP 562: `from edge_llm_ros.hosting.scripts import decision` in a generated console script.
    if name in NODE_CLASSES:
        return script(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
