"""Plain-value mappings between our transport and ROS 2: QoS profiles and the names rclpy declares itself.

Nothing here imports rclpy: which QoS policies a profile becomes is a pure function of our own
types, so it is unit tested on machines without ROS 2 (test/ros2/test_ros2_mapping.py). The glue
modules only turn these values into rclpy objects (enum members are named by their rclpy member
names). Parameter and lifecycle mappings belong to the host: hosting/ros2_params.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_llm_ros.transport.qos import Durability, History, QoSProfile, Reliability

# ---------------------------------------------------------------------------------------- QoS

_RELIABILITY = {Reliability.RELIABLE: "RELIABLE", Reliability.BEST_EFFORT: "BEST_EFFORT"}
_HISTORY = {History.KEEP_LAST: "KEEP_LAST", History.KEEP_ALL: "KEEP_ALL"}
_DURABILITY = {Durability.VOLATILE: "VOLATILE", Durability.TRANSIENT_LOCAL: "TRANSIENT_LOCAL"}


@dataclass(frozen=True)
class Ros2QoS:
    """A QoS profile as rclpy.qos.QoSProfile takes it; policy fields are rclpy enum member names."""

    reliability: str
    history: str
    depth: int
    durability: str
    #: 0 = leave unset, i.e. the RMW default, which is "infinite" (no deadline / no lifespan).
    deadline_ns: int
    lifespan_ns: int


def ros2_qos(profile: QoSProfile) -> Ros2QoS:
    """Our profile (durations in seconds, 0 = infinite) as rclpy wants it (nanoseconds)."""
    return Ros2QoS(
        reliability=_RELIABILITY[profile.reliability],
        history=_HISTORY[profile.history],
        depth=profile.depth,
        durability=_DURABILITY[profile.durability],
        deadline_ns=round(profile.deadline_s * 1e9),
        lifespan_ns=round(profile.lifespan_s * 1e9),
    )


# ----------------------------------------------------------------------------------- hosting

#: Service names (relative to the node) that an rclpy LifecycleNode already serves itself:
#: lifecycle_msgs services from rcl_lifecycle and rcl_interfaces parameter services. The
#: ManagedNode's own lifecycle services are not duplicated on the hosted node.
NATIVE_SERVICES = (
    "change_state",
    "get_state",
    "get_available_states",
    "get_available_transitions",
    "get_transition_graph",
    "describe_parameters",
    "get_parameters",
    "get_parameter_types",
    "list_parameters",
    "set_parameters",
    "set_parameters_atomically",
    "get_type_description",
)
#: Topics (relative to the node) an rclpy LifecycleNode already publishes itself.
NATIVE_TOPICS = ("transition_event",)


def native_names(fqn: str) -> tuple[frozenset[str], frozenset[str]]:
    """(services, topics) that the hosted rclpy node `fqn` provides natively."""
    base = fqn.rstrip("/")
    return (
        frozenset(f"{base}/{name}" for name in NATIVE_SERVICES),
        frozenset(f"{base}/{name}" for name in NATIVE_TOPICS),
    )
