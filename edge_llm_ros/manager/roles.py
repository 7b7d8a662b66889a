"""Instances of a node kind and the role each one plays."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edge_llm_ros._compat import StrEnum
from edge_llm_ros.runtime.heartbeat import HeartbeatInfo
from edge_llm_ros.runtime.lifecycle import State


class Role(StrEnum):
    """What an instance is for. Exactly one ACTIVE instance per kind serves at a time."""

    #: Spawned (or expected), not yet configured.
    STARTING = "starting"
    #: Configured and serving.
    ACTIVE = "active"
    #: Configured (model loaded, warm) and inactive: activated when the active one fails.
    STANDBY = "standby"
    #: Hot-swap: configured with the new model, being validated.
    CANDIDATE = "candidate"
    #: Hot-swap: the old active after the switch, still loaded until the new one has served;
    #: the first choice on a failure of the new one (rollback).
    PREVIOUS = "previous"
    #: Dead, hung or refused; killed, waiting to be respawned.
    FAILED = "failed"
    #: Shut down on purpose (retired after a swap, or the manager stopped).
    RETIRED = "retired"


#: Roles whose health the monitor watches.
MONITORED = frozenset({Role.ACTIVE, Role.STANDBY, Role.CANDIDATE, Role.PREVIOUS, Role.STARTING})


@dataclass
class Instance:
    """One process (or in-process node) of a node kind."""

    name: str
    kind: str
    role: Role
    #: Model parameters this instance was started with ({} for kinds without a model).
    overrides: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    namespace: str = "/"
    last_beat: HeartbeatInfo | None = None
    #: time.monotonic() when the last heartbeat arrived.
    last_beat_at: float = 0.0
    #: time.monotonic() when this incarnation was spawned/expected (spawn timeout counts from here).
    started_at: float = field(default_factory=time.monotonic)
    #: Heartbeats of these incarnations (see runtime/heartbeat.py) are from killed ones: ignored.
    dead_incarnations: set[str] = field(default_factory=set)
    #: Answered get_state (for nodes without heartbeats).
    reachable: bool = False
    respawns: int = 0
    #: time.monotonic() of the last role change (heartbeats older than this say nothing new).
    role_since: float = field(default_factory=time.monotonic)
    failure: str = ""
    #: Longest silence between two heartbeats of this incarnation, and how many beats arrived:
    #: what to look at before tightening heartbeat_timeout_s on a busy machine.
    max_beat_gap_s: float = 0.0
    beats: int = 0
    #: time.monotonic() of the last answered get_state: a sign of life as good as a heartbeat
    #: (a busy node whose beats are late but whose services answer is alive).
    last_answer_at: float = 0.0
    #: time.monotonic() since when get_state polls went unanswered (0 = the last one answered).
    unanswered_since: float = 0.0
    #: The current silence already passed the fast timeout and was counted as a suspicion.
    late: bool = False
    #: seq of the first beat of a stall episode (executor lag over the stall timeout), else None
    stall_seq: int | None = None
    #: Lifecycle state: from the newest of (heartbeat, transition the manager completed).
    state: State | None = None
    state_ns: int = 0

    def note_state(self, state: State, stamp_ns: int) -> None:
        """Record `state` if it is newer than what we know (heartbeats can lag a transition)."""
        if stamp_ns >= self.state_ns:
            self.state, self.state_ns = state, stamp_ns

    @property
    def fqn(self) -> str:
        """Fully-qualified node name."""
        return f"{self.namespace.rstrip('/')}/{self.name}"

    @property
    def pid(self) -> int | None:
        """The pid of the incarnation that last beat."""
        return self.last_beat.pid if self.last_beat is not None else None

    @property
    def seen(self) -> bool:
        """Heard from this incarnation (a heartbeat, or an answered get_state)."""
        return self.last_beat is not None or self.reachable

    @property
    def last_life_at(self) -> float:
        """time.monotonic() of the last sign of life: a heartbeat or an answered get_state."""
        return max(self.last_beat_at, self.last_answer_at)

    def set_role(self, role: Role) -> None:
        """Change role and remember when."""
        self.role = role
        self.role_since = time.monotonic()

    def reset_incarnation(self, dead: bool = True) -> None:
        """Forget the dead process; the next heartbeat from a new pid is the new incarnation.

        `dead=False` where the manager could not kill the process (ros2 launch started it): the
        same process may resume, and its beats must then be heard so that it can be demoted.
        """
        if dead and self.last_beat is not None:
            self.dead_incarnations.add(self.last_beat.incarnation)
        self.last_beat = None
        self.last_beat_at = 0.0
        self.reachable = False
        self.last_answer_at, self.unanswered_since, self.late = 0.0, 0.0, False
        self.started_at = time.monotonic()
        self.state, self.state_ns = None, 0
        self.max_beat_gap_s, self.beats = 0.0, 0

    def describe(self, now: float | None = None) -> dict[str, Any]:
        """A JSON-ready summary for status()."""
        now = time.monotonic() if now is None else now
        beat = self.last_beat
        return {
            "name": self.name,
            "role": self.role.value,
            "state": self.state.label if self.state is not None else "unknown",
            "model": self.model,
            "pid": beat.pid if beat is not None else None,
            "published": beat.published if beat is not None else 0,
            "heartbeat_age_ms": round((now - self.last_beat_at) * 1e3, 1) if beat is not None else None,
            "last_error": (beat.last_error if beat is not None else "") or self.failure,
            "respawns": self.respawns,
            "heartbeats": self.beats,
            "max_heartbeat_gap_ms": round(self.max_beat_gap_s * 1e3, 1),
        }


def standby_name(kind: str, index: int) -> str:
    """The name of a kind's instance `index`: the kind itself for 0, `<kind>_standby_<index>` after.

    The one naming rule: the manager's spawner and ros2 launch (launch/pipeline.launch.py) both
    use it, so a manager started by launch finds the standbys launch started.
    """
    return kind if index == 0 else f"{kind}_standby_{index}"


def model_id_of(overrides: Mapping[str, Any], name_param: str, version_param: str) -> str:
    """`name@version` (or just `name`) from a node's model parameters; '' when it has none."""
    name = str(overrides.get(name_param) or "")
    version = str(overrides.get(version_param) or "")
    if not name:
        return ""
    return f"{name}@{version}" if version else name
