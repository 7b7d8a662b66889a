"""Calls to a running lifecycle manager's services (`edge-llm-ros swap`, benches, tests)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from edge_llm_ros.nodes.manager_port import PARAMETER_STRING, SET_PARAMETERS, TRIGGER
from edge_llm_ros.transport.bus import BusNode, TransportError


def call_trigger(bus_node: BusNode, manager: str, name: str, timeout_s: float) -> tuple[bool, str]:
    """Call one of the manager's Trigger services; returns (success, message)."""
    codec = bus_node.bus.codec
    request = codec.serialize(
        codec.msg_class("std_srvs/srv/Trigger_Request")(structure_needs_at_least_one_member=0),
        "std_srvs/srv/Trigger_Request",
    )
    data = bus_node.call_service(f"{manager}/{name}", TRIGGER, request, timeout_s)
    response = codec.deserialize(data, "std_srvs/srv/Trigger_Response")
    return bool(response.success), str(response.message)


def call_swap(bus_node: BusNode, manager: str, kind: str, model_id: str, timeout_s: float) -> dict[str, Any]:
    """Ask the manager to hot-swap `kind` to `model_id`; returns the SwapResult as a dict."""
    codec = bus_node.bus.codec
    value = codec.msg_class("rcl_interfaces/msg/ParameterValue")(
        type=PARAMETER_STRING,
        bool_value=False,
        integer_value=0,
        double_value=0.0,
        string_value=model_id,
        byte_array_value=np.zeros(0, np.uint8),
        bool_array_value=np.zeros(0, np.bool_),
        integer_array_value=np.zeros(0, np.int64),
        double_array_value=np.zeros(0, np.float64),
        string_array_value=[],
    )
    parameter = codec.msg_class("rcl_interfaces/msg/Parameter")(name=kind, value=value)
    request = codec.msg_class("rcl_interfaces/srv/SetParameters_Request")(parameters=[parameter])
    data = bus_node.call_service(f"{manager}/swap", SET_PARAMETERS, codec.serialize(request), timeout_s)
    response = codec.deserialize(data, "rcl_interfaces/srv/SetParameters_Response")
    if not response.results:
        raise TransportError("the manager answered the swap with no result")
    result = response.results[0]
    try:
        parsed: dict[str, Any] = json.loads(result.reason)
    except ValueError:
        parsed = {"ok": bool(result.successful), "outcome": "rejected", "reason": str(result.reason)}
    return parsed
