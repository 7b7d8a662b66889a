"""What a managed node is given to run: the bus, the executor, the clock, QoS and parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edge_llm_ros.runtime.clock import Clock, SystemClock
from edge_llm_ros.runtime.executor import Executor
from edge_llm_ros.transport.bus import Bus
from edge_llm_ros.transport.qos import QoSCatalog


@dataclass
class NodeContext:
    """Shared by all nodes of a process (one bus session, one executor)."""

    bus: Bus
    executor: Executor = field(default_factory=Executor)
    clock: Clock = field(default_factory=SystemClock)
    qos: QoSCatalog = field(default_factory=lambda: QoSCatalog({}))
    #: A parsed ROS 2 params file (node name -> ros__parameters), read at each configure.
    params_document: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeOptions:
    """Per-node identity and overrides (what launch_ros passes to a Node)."""

    name: str
    namespace: str = "/"
    parameter_overrides: Mapping[str, Any] = field(default_factory=dict)
    remaps: Mapping[str, str] = field(default_factory=dict)
