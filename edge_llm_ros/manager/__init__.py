"""Lifecycle manager logic: bring-up, health, warm-standby failover and model hot-swap.

Plain Python with no transport import: the manager drives nodes through the small `NodePort`
interface (ports.py), which the lifecycle_manager node implements over the Bus port, and starts
or kills processes through a `Spawner` (spawner.py; `ProcessSupervisor` for real processes).
"""

from edge_llm_ros.manager.config import ManagerConfig
from edge_llm_ros.manager.manager import LifecycleManager, ManagerError, SwapResult
from edge_llm_ros.manager.ports import NodeClient, NodePort
from edge_llm_ros.manager.roles import Instance, Role
from edge_llm_ros.manager.spawner import InstanceSpec, Spawner

__all__ = [
    "Instance",
    "InstanceSpec",
    "LifecycleManager",
    "ManagerConfig",
    "ManagerError",
    "NodeClient",
    "NodePort",
    "Role",
    "Spawner",
    "SwapResult",
]
