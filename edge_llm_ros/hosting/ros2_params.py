"""Plain-value mappings between our managed-node runtime and rclpy: parameters and lifecycle outcomes.

Nothing here imports rclpy: how a ParameterSpec is declared and described, and which
TransitionCallbackReturn keeps the rclpy lifecycle machine in step with ours, are pure functions of
our own types, unit tested on machines without ROS 2 (test/ros2/test_ros2_mapping.py);
hosting/ros2_host.py only turns these values into rclpy objects. The QoS and name mappings the
transport needs are in transport/ros2_mapping.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edge_llm_ros.runtime.lifecycle import State
from edge_llm_ros.runtime.params import ParameterSpec

# ----------------------------------------------------------------------------------- parameters

#: ParameterSpec.type -> rclpy.parameter.Parameter.Type member name.
ROS_PARAMETER_TYPES: dict[str, str] = {
    "bool": "BOOL",
    "int": "INTEGER",
    "float": "DOUBLE",
    "str": "STRING",
    "list[float]": "DOUBLE_ARRAY",
    "list[int]": "INTEGER_ARRAY",
    "list[str]": "STRING_ARRAY",
}

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

#: Told to every `ros2 param describe` reader: values are resolved at configure (as in every
#: adapter), so a `ros2 param set` on a configured node takes effect at its next configure.
APPLIED_AT_CONFIGURE = "read at configure: a change takes effect on the next configure transition"


@dataclass(frozen=True)
class ParameterDeclaration:
    """How one ParameterSpec is declared on an rclpy node and what `ros2 param describe` shows."""

    name: str
    #: rclpy Parameter.Type member name; declarations are statically typed, as ROS users expect.
    ros_type: str
    #: The default coerced to the ROS type (float for DOUBLE even when the spec says 1), or None
    #: when there is none (declared typed and unset; the schema then reports it at configure).
    default: Any
    description: str
    additional_constraints: str
    read_only: bool
    #: Inclusive bounds for INTEGER / DOUBLE scalars only (rclpy ignores ranges on arrays, so a
    #: list's element bounds are stated in additional_constraints and checked by the spec).
    integer_range: tuple[int, int] | None
    float_range: tuple[float, float] | None

    @property
    def needs_typed_declaration(self) -> bool:
        """Whether to declare with the type instead of a default rclpy would infer it from.

        None and [] carry no type (rclpy infers an empty list as BYTE_ARRAY).
        """
        return self.default is None or (isinstance(self.default, list) and not self.default)


def _bounds_text(spec: ParameterSpec) -> str:
    if spec.min is not None and spec.max is not None:
        return f"in [{spec.min:g}, {spec.max:g}]"
    if spec.min is not None:
        return f">= {spec.min:g}"
    if spec.max is not None:
        return f"<= {spec.max:g}"
    return ""


def parameter_declaration(spec: ParameterSpec) -> ParameterDeclaration:
    """The rclpy declaration of `spec`: type, coerced default, descriptor texts and ranges."""
    ros_type = ROS_PARAMETER_TYPES[spec.type]
    default = None if spec.default is None else spec.check(spec.default)
    constraints: list[str] = []
    if spec.required:
        constraints.append("required")
    if spec.choices:
        constraints.append("one of: " + ", ".join(str(c) for c in spec.choices))
    bounds = _bounds_text(spec)
    integer_range: tuple[int, int] | None = None
    float_range: tuple[float, float] | None = None
    if bounds and spec.type == "int":
        low = INT64_MIN if spec.min is None else math.ceil(spec.min)
        high = INT64_MAX if spec.max is None else math.floor(spec.max)
        integer_range = (int(low), int(high))
    elif bounds and spec.type == "float":
        float_range = (
            -math.inf if spec.min is None else float(spec.min),
            math.inf if spec.max is None else float(spec.max),
        )
    elif bounds and spec.type.startswith("list["):
        constraints.append(f"each element {bounds}")
    constraints.append(APPLIED_AT_CONFIGURE)
    return ParameterDeclaration(
        name=spec.name,
        ros_type=ros_type,
        default=default,
        description=spec.description or spec.name.replace("_", " "),
        additional_constraints="; ".join(constraints),
        read_only=spec.read_only,
        integer_range=integer_range,
        float_range=float_range,
    )


def from_ros_value(spec: ParameterSpec, value: Any) -> Any:
    """A value as rclpy holds it, in the Python form `spec.check` expects.

    rclpy returns numeric arrays as array.array (or numpy arrays, from some message paths);
    the schema wants lists. None (PARAMETER_NOT_SET) stays None.
    """
    if value is None:
        return None
    if spec.type.startswith("list["):
        return list(value)
    return value


def declared_values(specs: Iterable[ParameterSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """Parameter overrides for ManagedNode from the values an rclpy node holds.

    Unset (None) parameters are left out so the schema applies its default or reports a missing
    required one, exactly as with a params file that does not mention them.
    """
    out: dict[str, Any] = {}
    for spec in specs:
        value = from_ros_value(spec, values.get(spec.name))
        if value is not None:
            out[spec.name] = value
    return out


# ------------------------------------------------------------------------------------ lifecycle

#: Primary state a successful transition reaches, by rclpy lifecycle callback name.
TRANSITION_GOALS: dict[str, State] = {
    "configure": State.INACTIVE,
    "activate": State.ACTIVE,
    "deactivate": State.INACTIVE,
    "cleanup": State.UNCONFIGURED,
    "shutdown": State.FINALIZED,
}


def transition_outcome(start: State, goal: State, after: State) -> str:
    """The TransitionCallbackReturn name that lands rclpy's machine where ours landed.

    Our machine has already run the whole transition (including its own error processing), so
    the answer is chosen from where it ended: the goal -> SUCCESS; back at the start -> FAILURE
    (rclpy returns to the start state too); anywhere else (unconfigured after a recovered error,
    finalized after an unrecovered one) -> ERROR, after which rclpy calls on_error, whose answer
    `error_outcome` picks. Where FAILURE and a recovered ERROR land in the same state (configure)
    FAILURE is reported: both machines end up unconfigured either way.
    """
    if after is goal:
        return "SUCCESS"
    if after is start:
        return "FAILURE"
    return "ERROR"


def error_outcome(after: State) -> str:
    """on_error's answer: SUCCESS makes rclpy go to unconfigured, FAILURE to finalized."""
    return "SUCCESS" if after is State.UNCONFIGURED else "FAILURE"
