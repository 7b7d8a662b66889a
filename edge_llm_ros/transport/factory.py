"""The transport registry: every adapter of the Bus port, opened by name.

An adapter is one module with one Bus subclass that declares what it can do (`capabilities`) and
how it opens (`open(config, codec)`); adding one is a line in TRANSPORTS. Adapters are imported
lazily, so asking for 'ros2' on a machine without rclpy raises TransportError instead of failing
at import.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from edge_llm_ros.msgs.codec import MessageCodec
from edge_llm_ros.transport.bus import Bus, Capability, TransportError

#: Adapter name -> "module:class" of its Bus subclass.
TRANSPORTS: dict[str, str] = {
    "inproc": "edge_llm_ros.transport.inproc:InprocBus",
    "zenoh": "edge_llm_ros.transport.zenoh_bus:ZenohBus",
    "ros2": "edge_llm_ros.transport.ros2_bus:Ros2Bus",
}
#: Adapter names `create_bus` accepts.
BUS_KINDS = tuple(TRANSPORTS)


def bus_class(kind: str) -> type[Bus]:
    """The Bus subclass of adapter `kind`; TransportError when unknown or not importable here."""
    name = kind.strip().lower()
    if name not in TRANSPORTS:
        raise TransportError(f"unknown bus kind {kind!r}; choose one of {', '.join(BUS_KINDS)}")
    module_name, attr = TRANSPORTS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        # e.g. no ROS 2 sourced (or only a stub rclpy, as rclpy-intellisense installs): say so.
        what = "rclpy not available" if name == "ros2" else f"{name} not available"
        raise TransportError(f"{what}: the {name} bus cannot be imported ({exc})") from exc
    cls = getattr(module, attr)
    if not (isinstance(cls, type) and issubclass(cls, Bus)):
        raise TransportError(f"{TRANSPORTS[name]} is not a Bus adapter")
    return cls


def capabilities(kind: str) -> frozenset[Capability]:
    """What adapter `kind` declares it can do, without opening it."""
    return bus_class(kind).capabilities


def create_bus(kind: str, config: Mapping[str, Any] | None = None, codec: MessageCodec | None = None) -> Bus:
    """Open a bus of `kind` ('inproc' | 'zenoh' | 'ros2') with its adapter-specific `config`."""
    return bus_class(kind).open(config, codec)
