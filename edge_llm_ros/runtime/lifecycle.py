"""ROS 2 managed-node state machine (design.ros2.org/articles/node_lifecycle.html).

Pure logic, no I/O: `LifecycleMachine.trigger()` runs a transition through the user callback and
returns the new primary state, following the same table as rclcpp_lifecycle/rclpy.lifecycle,
with the ids of lifecycle_msgs/State and lifecycle_msgs/Transition.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass


class State(enum.IntEnum):
    """Primary and transition states, numbered as lifecycle_msgs/msg/State."""

    UNKNOWN = 0
    UNCONFIGURED = 1
    INACTIVE = 2
    ACTIVE = 3
    FINALIZED = 4
    CONFIGURING = 10
    CLEANINGUP = 11
    SHUTTINGDOWN = 12
    ACTIVATING = 13
    DEACTIVATING = 14
    ERRORPROCESSING = 15

    @property
    def label(self) -> str:
        """Lower-case label as `ros2 lifecycle get` prints it."""
        return self.name.lower()


class Transition(enum.IntEnum):
    """Externally triggerable transitions, numbered as lifecycle_msgs/msg/Transition."""

    CONFIGURE = 1
    CLEANUP = 2
    ACTIVATE = 3
    DEACTIVATE = 4
    UNCONFIGURED_SHUTDOWN = 5
    INACTIVE_SHUTDOWN = 6
    ACTIVE_SHUTDOWN = 7

    @property
    def label(self) -> str:
        """Label as `ros2 lifecycle set` accepts it."""
        return "shutdown" if self.name.endswith("SHUTDOWN") else self.name.lower()


class CallbackReturn(enum.Enum):
    """What a transition callback reports (lifecycle_msgs TRANSITION_CALLBACK_*)."""

    SUCCESS = 97
    FAILURE = 98
    ERROR = 99


class TransitionError(RuntimeError):
    """A transition that is not valid from the current state."""


@dataclass(frozen=True)
class _Edge:
    start: State
    intermediate: State
    on_success: State
    on_failure: State


_EDGES: dict[Transition, _Edge] = {
    Transition.CONFIGURE: _Edge(State.UNCONFIGURED, State.CONFIGURING, State.INACTIVE, State.UNCONFIGURED),
    Transition.CLEANUP: _Edge(State.INACTIVE, State.CLEANINGUP, State.UNCONFIGURED, State.INACTIVE),
    Transition.ACTIVATE: _Edge(State.INACTIVE, State.ACTIVATING, State.ACTIVE, State.INACTIVE),
    Transition.DEACTIVATE: _Edge(State.ACTIVE, State.DEACTIVATING, State.INACTIVE, State.ACTIVE),
    Transition.UNCONFIGURED_SHUTDOWN: _Edge(
        State.UNCONFIGURED, State.SHUTTINGDOWN, State.FINALIZED, State.UNCONFIGURED
    ),
    Transition.INACTIVE_SHUTDOWN: _Edge(State.INACTIVE, State.SHUTTINGDOWN, State.FINALIZED, State.INACTIVE),
    Transition.ACTIVE_SHUTDOWN: _Edge(State.ACTIVE, State.SHUTTINGDOWN, State.FINALIZED, State.ACTIVE),
}

_LABELS = {"configure", "cleanup", "activate", "deactivate", "shutdown"}


def transition_for(label: str, state: State) -> Transition:
    """Map a label ('configure', 'shutdown', ...) to the transition valid from `state`."""
    if label not in _LABELS:
        raise TransitionError(f"unknown transition {label!r}; known: {sorted(_LABELS)}")
    for transition, edge in _EDGES.items():
        if transition.label == label and edge.start is state:
            return transition
    raise TransitionError(f"transition {label!r} is not available from state {state.label!r}")


def available_transitions(state: State) -> list[Transition]:
    """Transitions that may be triggered from `state`."""
    return [t for t, edge in _EDGES.items() if edge.start is state]


Callback = Callable[[State], CallbackReturn]


class LifecycleMachine:
    """The state machine; callbacks are looked up per intermediate state.

    A callback that raises is treated as ERROR (as rclpy does), which runs on_error: SUCCESS there
    returns to UNCONFIGURED, anything else finalises the node.
    """

    def __init__(
        self,
        callbacks: dict[State, Callback],
        on_change: Callable[[State, State, Transition | None], None] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self._callbacks = callbacks
        self._on_change = on_change
        self._log = logger or logging.getLogger(__name__)
        self._state = State.UNCONFIGURED
        self._lock = threading.RLock()
        self.last_error: str | None = None

    @property
    def state(self) -> State:
        """The current state (primary between transitions)."""
        return self._state

    def _set(self, new: State, transition: Transition | None) -> None:
        old, self._state = self._state, new
        if self._on_change is not None:
            self._on_change(old, new, transition)

    def _run(self, intermediate: State, previous: State) -> CallbackReturn:
        callback = self._callbacks.get(intermediate)
        if callback is None:
            return CallbackReturn.SUCCESS
        try:
            result = callback(previous)
        except Exception as exc:
            self.last_error = f"{intermediate.label}: {type(exc).__name__}: {exc}"
            self._log.exception("lifecycle callback for %s raised", intermediate.label)
            return CallbackReturn.ERROR
        if not isinstance(result, CallbackReturn):
            self.last_error = f"{intermediate.label}: callback returned {result!r}, not a CallbackReturn"
            self._log.error(self.last_error)
            return CallbackReturn.ERROR
        return result

    def trigger(self, transition: Transition | str) -> State:
        """Run a transition; returns the resulting primary state. Invalid ones raise TransitionError."""
        with self._lock:
            if isinstance(transition, str):
                transition = transition_for(transition, self._state)
            edge = _EDGES[transition]
            if edge.start is not self._state:
                raise TransitionError(
                    f"transition {transition.label!r} is not available from state {self._state.label!r}"
                )
            self.last_error = None
            previous = self._state
            self._set(edge.intermediate, transition)
            result = self._run(edge.intermediate, previous)
            if result is CallbackReturn.SUCCESS:
                self._set(edge.on_success, transition)
            elif result is CallbackReturn.FAILURE:
                self._set(edge.on_failure, transition)
            else:
                self._set(State.ERRORPROCESSING, transition)
                recovered = self._run(State.ERRORPROCESSING, edge.intermediate)
                self._set(State.UNCONFIGURED if recovered is CallbackReturn.SUCCESS else State.FINALIZED, None)
            return self._state
