"""ros2_mapping: the plain decisions behind the rclpy adapter and host, tested without ROS 2."""

from __future__ import annotations

import array
import math

import pytest

from edge_llm_ros.config_files import find_config
from edge_llm_ros.hosting.ros2_params import (
    APPLIED_AT_CONFIGURE,
    INT64_MAX,
    INT64_MIN,
    ROS_PARAMETER_TYPES,
    TRANSITION_GOALS,
    declared_values,
    error_outcome,
    parameter_declaration,
    transition_outcome,
)
from edge_llm_ros.nodes.registry import NODE_CLASSES, node_class
from edge_llm_ros.runtime.lifecycle import _EDGES, CallbackReturn, LifecycleMachine, State, Transition
from edge_llm_ros.runtime.managed_node import BASE_PARAMETERS
from edge_llm_ros.runtime.params import ParameterSchema, ParameterSpec
from edge_llm_ros.transport.qos import LATCHED, SENSOR_DATA, History, QoSCatalog, QoSProfile
from edge_llm_ros.transport.ros2_mapping import native_names, ros2_qos

# rclpy.qos enum member names and rclpy.parameter.Parameter.Type member names (rclpy 3.x-7.x).
RCLPY_QOS_NAMES = {"RELIABLE", "BEST_EFFORT", "KEEP_LAST", "KEEP_ALL", "VOLATILE", "TRANSIENT_LOCAL"}
RCLPY_PARAMETER_TYPES = {"BOOL", "INTEGER", "DOUBLE", "STRING", "DOUBLE_ARRAY", "INTEGER_ARRAY", "STRING_ARRAY"}


# ------------------------------------------------------------------------------------------ QoS
def test_sensor_data_maps_to_best_effort_keep_last() -> None:
    mapped = ros2_qos(SENSOR_DATA)
    assert (mapped.reliability, mapped.history, mapped.depth, mapped.durability) == (
        "BEST_EFFORT",
        "KEEP_LAST",
        SENSOR_DATA.depth,
        "VOLATILE",
    )
    assert mapped.deadline_ns == mapped.lifespan_ns == 0  # 0: left at the RMW default (infinite)


def test_latched_deadline_and_lifespan_map_to_nanoseconds() -> None:
    mapped = ros2_qos(QoSProfile(deadline_s=0.1, lifespan_s=1.5, history=History.KEEP_ALL))
    assert mapped.deadline_ns == 100_000_000 and mapped.lifespan_ns == 1_500_000_000
    assert mapped.history == "KEEP_ALL"
    assert ros2_qos(LATCHED).durability == "TRANSIENT_LOCAL"


def test_every_configured_profile_maps_to_rclpy_names() -> None:
    catalog = QoSCatalog.from_yaml(find_config("qos.yaml"))
    for name, profile in catalog.profiles.items():
        mapped = ros2_qos(profile)
        assert {mapped.reliability, mapped.history, mapped.durability} <= RCLPY_QOS_NAMES, name
    assert ros2_qos(catalog.profile("decision")).lifespan_ns == 1_000_000_000


# ----------------------------------------------------------------------------------- parameters
def all_schemas() -> dict[str, ParameterSchema]:
    schemas = {kind: node_class(kind).parameter_schema() for kind in NODE_CLASSES}
    schemas["base"] = BASE_PARAMETERS
    return schemas


@pytest.mark.parametrize("kind", sorted(all_schemas()))
def test_every_declared_parameter_maps_to_an_rclpy_declaration(kind: str) -> None:
    for spec in all_schemas()[kind].describe():
        decl = parameter_declaration(spec)
        assert decl.ros_type in RCLPY_PARAMETER_TYPES
        assert decl.description and APPLIED_AT_CONFIGURE in decl.additional_constraints
        if decl.default is not None:
            spec.check(decl.default)
            if decl.ros_type == "DOUBLE":
                assert isinstance(decl.default, float), spec.name  # rclpy infers the type from it
        if decl.integer_range is not None:
            low, high = decl.integer_range
            assert INT64_MIN <= low <= high <= INT64_MAX
        if decl.float_range is not None:
            low_f, high_f = decl.float_range
            assert low_f <= high_f


def test_types_defaults_and_ranges() -> None:
    ratio = parameter_declaration(ParameterSpec("ratio", "float", 1, "A ratio", min=0, max=2))
    assert (ratio.ros_type, ratio.default, ratio.float_range, ratio.integer_range) == ("DOUBLE", 1.0, (0.0, 2.0), None)
    threads = parameter_declaration(ParameterSpec("threads", "int", 1, min=1))
    assert threads.integer_range == (1, INT64_MAX) and threads.float_range is None
    low_only = parameter_declaration(ParameterSpec("x", "float", 0.0, max=5.0))
    assert low_only.float_range == (-math.inf, 5.0)
    assert parameter_declaration(ParameterSpec("flag", "bool", False)).integer_range is None
    assert set(ROS_PARAMETER_TYPES.values()) == RCLPY_PARAMETER_TYPES


def test_lists_empty_defaults_and_choices() -> None:
    cameras = parameter_declaration(ParameterSpec("cameras", "list[str]", []))
    assert cameras.ros_type == "STRING_ARRAY" and cameras.needs_typed_declaration  # [] would infer BYTE_ARRAY
    offsets = parameter_declaration(ParameterSpec("offsets", "list[float]", [0, 1], min=-1.0, max=1.0))
    assert offsets.default == [0.0, 1.0] and not offsets.needs_typed_declaration
    assert offsets.float_range is None and "each element in [-1, 1]" in offsets.additional_constraints
    unset = parameter_declaration(ParameterSpec("model", "str", None, required=True))
    assert unset.needs_typed_declaration and "required" in unset.additional_constraints
    scene = parameter_declaration(ParameterSpec("scene", "str", "traffic", choices=("traffic", "industrial")))
    assert "one of: traffic, industrial" in scene.additional_constraints
    assert parameter_declaration(ParameterSpec("ro", "int", 3, read_only=True)).read_only


def test_declared_values_converts_rclpy_values_and_drops_unset_ones() -> None:
    specs = [
        ParameterSpec("offsets", "list[float]", [0.0]),
        ParameterSpec("ids", "list[int]", [1]),
        ParameterSpec("model", "str", None),
        ParameterSpec("rate", "float", 1.0),
    ]
    values = {"offsets": array.array("d", [0.5, 1.5]), "ids": array.array("q", [3]), "model": None, "rate": 2.0}
    converted = declared_values(specs, values)
    assert converted == {"offsets": [0.5, 1.5], "ids": [3], "rate": 2.0}
    resolved = ParameterSchema.of(*specs).resolve(converted)
    assert resolved == {"offsets": [0.5, 1.5], "ids": [3], "model": None, "rate": 2.0}


# ------------------------------------------------------------------------------------ lifecycle
def rclpy_lands(start: State, goal: State, outcome: str, on_error: str) -> State:
    """Where rcl_lifecycle's default state machine ends for a callback outcome."""
    if outcome == "SUCCESS":
        return goal
    if outcome == "FAILURE":
        return start
    return State.UNCONFIGURED if on_error == "SUCCESS" else State.FINALIZED


def raise_error(_previous: State) -> CallbackReturn:
    raise RuntimeError("boom")


BEHAVIOURS = {
    "success": lambda _p: CallbackReturn.SUCCESS,
    "failure": lambda _p: CallbackReturn.FAILURE,
    "error": lambda _p: CallbackReturn.ERROR,
    "raises": raise_error,
}


@pytest.mark.parametrize("transition", list(Transition))
@pytest.mark.parametrize("behaviour", sorted(BEHAVIOURS))
@pytest.mark.parametrize("recovers", [True, False])
def test_both_machines_end_in_the_same_state(transition: Transition, behaviour: str, recovers: bool) -> None:
    edge = _EDGES[transition]
    machine = LifecycleMachine(
        {
            edge.intermediate: BEHAVIOURS[behaviour],
            State.ERRORPROCESSING: lambda _p: CallbackReturn.SUCCESS if recovers else CallbackReturn.FAILURE,
        }
    )
    machine._state = edge.start  # start the transition from its own start state
    after = machine.trigger(transition)

    goal = TRANSITION_GOALS[transition.label]
    outcome = transition_outcome(edge.start, goal, after)
    assert rclpy_lands(edge.start, goal, outcome, error_outcome(after)) is after


def test_native_names_of_a_hosted_node() -> None:
    services, topics = native_names("/vehicle/decision")
    assert "/vehicle/decision/change_state" in services and "/vehicle/decision/set_parameters" in services
    assert topics == frozenset({"/vehicle/decision/transition_event"})
    assert native_names("/decision")[0] >= {"/decision/get_state", "/decision/describe_parameters"}
