"""One entry point to open any adapter of the Bus port by name."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from edge_llm_ros.msgs.codec import MessageCodec
from edge_llm_ros.transport.bus import Bus, TransportError

#: Adapter names `create_bus` accepts.
BUS_KINDS = ("inproc", "zenoh", "ros2")


def create_bus(kind: str, config: Mapping[str, Any] | None = None, codec: MessageCodec | None = None) -> Bus:
    """Open a bus of `kind` ('inproc' | 'zenoh' | 'ros2').

    `config` is adapter-specific: the zenoh settings of zenoh_config for 'zenoh', passed to
    Ros2Bus for 'ros2', and must be empty for 'inproc'. Adapters are imported lazily, so asking
    for 'ros2' on a machine without rclpy raises TransportError instead of failing at import.
    """
    name = kind.strip().lower()
    if name == "inproc":
        if config:
            raise TransportError(f"the inproc bus takes no configuration, got {sorted(config)}")
        from edge_llm_ros.transport.inproc import InprocBus

        return InprocBus(codec)
    if name == "zenoh":
        from edge_llm_ros.transport.zenoh_bus import ZenohBus

        return ZenohBus(config, codec)
    if name == "ros2":
        try:
            module = importlib.import_module("edge_llm_ros.transport.ros2_bus")
        except ImportError as exc:
            # No ROS 2 sourced (or only a stub rclpy, as rclpy-intellisense installs): say so.
            raise TransportError(f"rclpy not available: the ros2 bus cannot be imported ({exc})") from exc
        bus: Bus = module.Ros2Bus(config, codec)
        return bus
    raise TransportError(f"unknown bus kind {kind!r}; choose one of {', '.join(BUS_KINDS)}")
