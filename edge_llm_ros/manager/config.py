"""Every knob of the lifecycle manager, with the defaults the lifecycle_manager node declares."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelParams:
    """Which node parameters carry a model id (`name@version`) for one node kind."""

    name_param: str = "model"
    version_param: str = "model_version"


@dataclass(frozen=True)
class ManagerConfig:
    """Timeouts are seconds; 0 disables the check it belongs to where noted."""

    #: Node kinds in bring-up order (configure all in this order, then activate in this order).
    node_names: tuple[str, ...]
    #: Warm standbys per node kind (configured, inactive); kinds not listed have none.
    standbys: Mapping[str, int] = field(default_factory=dict)
    autostart: bool = True
    #: Period the manager asks its nodes to beat at (passed to the nodes it spawns).
    heartbeat_period_s: float = 0.01
    #: No heartbeat for this long from an active instance that has a standby: fail over.
    heartbeat_timeout_s: float = 0.05
    #: Silence (no heartbeat and no answered get_state) that condemns every other instance (an
    #: active one without a ready standby, which is then restarted in place, or a standby).
    #: Acting costs seconds there and frames go undecided, so a busy CPU's hiccups must not
    #: reach it: well above any scheduling stall (seconds, not tens of ms). Never below
    #: heartbeat_timeout_s (the larger of the two is used).
    restart_timeout_s: float = 2.0
    #: How often the monitor looks at heartbeat ages (detection time <= timeout + this).
    check_period_s: float = 0.005
    #: A node whose executor has not ticked for this long is hung (0 = do not check).
    executor_stall_timeout_s: float = 2.0
    #: Poll get_state of active nodes this often (0 = off). An answer is a sign of life; an
    #: unanswered call is only a suspicion (counted), a verdict only after restart_timeout_s.
    get_state_period_s: float = 0.25
    get_state_timeout_s: float = 0.2
    #: A spawned process must send its first heartbeat within this.
    spawn_timeout_s: float = 60.0
    configure_timeout_s: float = 60.0
    activate_timeout_s: float = 2.0
    deactivate_timeout_s: float = 2.0
    cleanup_timeout_s: float = 10.0
    shutdown_timeout_s: float = 5.0
    #: Respawn a failed instance (as the new standby when the kind has standbys).
    respawn: bool = True
    respawn_backoff_s: float = 0.5
    max_respawn_attempts: int = 5
    #: Hot-swap: after the switch, the old instance stays loaded until the new one has published
    #: this many messages; if that does not happen within swap_serve_timeout_s the swap rolls back.
    swap_serve_messages: int = 1
    swap_serve_timeout_s: float = 10.0
    #: Model parameters per kind; kinds not listed use `model` / `model_version`.
    model_params: Mapping[str, ModelParams] = field(default_factory=dict)
    #: The model id each kind starts with (from its parameters), for status and swap validation.
    initial_models: Mapping[str, str] = field(default_factory=dict)
    #: How many failover/swap records status() keeps.
    history: int = 200

    def __post_init__(self) -> None:
        if not self.node_names:
            raise ValueError("node_names lists no nodes")
        if len(set(self.node_names)) != len(self.node_names):
            raise ValueError(f"node_names has duplicates: {list(self.node_names)}")
        unknown = sorted(set(self.standbys) - set(self.node_names))
        if unknown:
            raise ValueError(f"standbys given for nodes not in node_names: {unknown}")
        if self.heartbeat_period_s > 0 and self.heartbeat_timeout_s <= self.heartbeat_period_s:
            raise ValueError(
                f"heartbeat_timeout_s ({self.heartbeat_timeout_s}) must exceed heartbeat_period_s "
                f"({self.heartbeat_period_s})"
            )
        for name, value in self.standbys.items():
            if value < 0:
                raise ValueError(f"standbys.{name} must be >= 0, got {value}")

    def model_params_for(self, kind: str) -> ModelParams:
        """The parameter names a swap sets on instances of `kind`."""
        return self.model_params.get(kind, ModelParams())
