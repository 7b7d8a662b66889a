"""What the manager needs from the middleware, as a small interface (implemented over the Bus port).

The manager never imports a transport. The lifecycle_manager node implements `NodePort` with the
lifecycle_msgs services every managed node offers (`<node>/change_state`, `<node>/get_state`), the
nodes' `~/heartbeat` topics and the bus's node watch (liveliness), so the same manager logic runs
on inproc, zenoh or rclpy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from edge_llm_ros.runtime.heartbeat import HeartbeatInfo
from edge_llm_ros.runtime.lifecycle import State


class NodeUnreachableError(RuntimeError):
    """A node did not answer a lifecycle service call in time (dead, hung, or not there yet)."""


class NodeClient(Protocol):
    """Lifecycle services of one node."""

    fqn: str

    def change_state(self, transition: str, timeout_s: float) -> bool:
        """Trigger a transition by label; False when the node refused it or it failed.

        Raises NodeUnreachableError when there is no answer within `timeout_s`.
        """

    def get_state(self, timeout_s: float) -> State:
        """The node's current state; raises NodeUnreachableError without an answer in time."""


HeartbeatCallback = Callable[[HeartbeatInfo], None]
#: (fully-qualified node name, alive) from the bus's node watch.
LivelinessCallback = Callable[[str, bool], None]


class NodePort(Protocol):
    """The manager's view of the bus."""

    def client(self, fqn: str) -> NodeClient:
        """A client for the node `fqn` (e.g. '/vision_inference'); cheap, may be cached."""

    def watch_heartbeats(self, fqn: str, callback: HeartbeatCallback) -> None:
        """Call `callback` (from any thread, quickly) for every heartbeat `fqn` publishes."""

    def unwatch_heartbeats(self, fqn: str) -> None:
        """Stop watching `fqn`'s heartbeats."""

    def watch_liveliness(self, callback: LivelinessCallback) -> Callable[[], None] | None:
        """Follow nodes appearing/vanishing where the bus can tell; None when it cannot."""
