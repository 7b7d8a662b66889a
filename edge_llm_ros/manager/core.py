"""The state every part of the lifecycle manager shares, and the plumbing they all use.

monitor.py (health, failover, respawn), bring_up.py (ordered bring-up, start/stop/reset, shutdown)
and hot_swap.py build on `ManagerCore`; manager.py puts them together as `LifecycleManager`.
Locking is described in manager.py.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from edge_llm_ros.manager.config import ManagerConfig
from edge_llm_ros.manager.ports import NodePort, NodeUnreachableError
from edge_llm_ros.manager.roles import Instance, Role, model_id_of, standby_name
from edge_llm_ros.manager.spawner import InstanceSpec, Spawner
from edge_llm_ros.runtime.heartbeat import HeartbeatInfo
from edge_llm_ros.runtime.lifecycle import State

_log = logging.getLogger(__name__)

#: The primary state a successful transition ends in.
_TARGETS = {
    "configure": State.INACTIVE,
    "activate": State.ACTIVE,
    "deactivate": State.INACTIVE,
    "cleanup": State.UNCONFIGURED,
    "shutdown": State.FINALIZED,
}
_PRIMARY = frozenset({State.UNCONFIGURED, State.INACTIVE, State.ACTIVE, State.FINALIZED})

#: (kind, model_id) -> None, or raises ValueError whose message is the rejection reason.
Validator = Callable[[str, str], None]


class ManagerError(RuntimeError):
    """A bring-up, start/stop or swap step failed; the message says which node and why."""


@dataclass
class SwapResult:
    """Outcome of a hot-swap request."""

    ok: bool
    kind: str
    model: str
    #: rejected | committed | rolled_back | switched (new one serving, old one still loaded)
    outcome: str
    reason: str = ""
    previous_model: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass
class Group:
    """All instances of one node kind."""

    kind: str
    standbys: int
    instances: list[Instance] = field(default_factory=list)
    #: Model parameters every new instance of this kind gets (changed by a committed swap).
    overrides: dict[str, Any] = field(default_factory=dict)
    model: str = ""

    def with_role(self, *roles: Role) -> list[Instance]:
        """Instances in any of `roles`, in creation order."""
        return [i for i in self.instances if i.role in roles]

    @property
    def active(self) -> Instance | None:
        """The serving instance, if any."""
        found = self.with_role(Role.ACTIVE)
        return found[0] if found else None


class ManagerCore:
    """Groups of instances, their heartbeats, events and lifecycle transitions, through a `NodePort`."""

    def __init__(
        self,
        config: ManagerConfig,
        port: NodePort,
        spawner: Spawner | None = None,
        *,
        validator: Validator | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.port = port
        self.spawner = spawner
        self.validator = validator
        self._clock_ns = clock_ns
        self._lock = threading.RLock()
        self._swap_lock = threading.Lock()
        self._groups: dict[str, Group] = {
            kind: Group(kind, int(config.standbys.get(kind, 0)), model=config.initial_models.get(kind, ""))
            for kind in config.node_names
        }
        self._by_fqn: dict[str, Instance] = {}
        self._events: deque[dict[str, Any]] = deque(maxlen=config.history)
        self._liveliness: queue.SimpleQueue[tuple[str, bool, float]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._poller: threading.Thread | None = None
        self._workers = ThreadPoolExecutor(2, thread_name_prefix="manager-respawn")
        self._unwatch_liveliness: Callable[[], None] | None = None
        self.brought_up = False
        self.running = False
        self.counters: dict[str, int] = {"failovers": 0, "respawns": 0, "swaps": 0, "rollbacks": 0}

    # ================================================================== plumbing
    def _now_ns(self) -> int:
        return self._clock_ns()

    def _record(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._events.append(event)
        return event

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Failover/swap/respawn records, oldest first (copies)."""
        with self._lock:
            return [dict(e) for e in self._events if kind is None or e.get("event") == kind]

    def group(self, kind: str) -> Group:
        """The instances of a node kind; unknown kinds raise ManagerError."""
        try:
            return self._groups[kind]
        except KeyError:
            raise ManagerError(f"unknown node {kind!r}; managed: {list(self._groups)}") from None

    def instances(self) -> list[Instance]:
        """Every instance the manager knows, in kind order."""
        with self._lock:
            return [i for g in self._groups.values() for i in g.instances]

    def _allocate_name(self, kind: str) -> str:
        with self._lock:
            taken = {i.name for g in self._groups.values() for i in g.instances if i.role is not Role.RETIRED}
            index = 0
            while standby_name(kind, index) in taken:
                index += 1
            return standby_name(kind, index)

    def _add_instance(self, group: Group, role: Role, overrides: dict[str, Any] | None = None) -> Instance:
        params = self.config.model_params_for(group.kind)
        ovr = dict(group.overrides if overrides is None else overrides)
        inst = Instance(
            name=self._allocate_name(group.kind),
            kind=group.kind,
            role=role,
            overrides=ovr,
            model=model_id_of(ovr, params.name_param, params.version_param) or group.model,
        )
        with self._lock:
            group.instances.append(inst)
            self._by_fqn[inst.fqn] = inst
        self.port.watch_heartbeats(inst.fqn, self._on_beat)
        return inst

    def _forget(self, inst: Instance) -> None:
        with self._lock:
            group = self._groups[inst.kind]
            if inst in group.instances:
                group.instances.remove(inst)
            if self._by_fqn.get(inst.fqn) is inst:
                del self._by_fqn[inst.fqn]
                self.port.unwatch_heartbeats(inst.fqn)

    def _spec(self, inst: Instance) -> InstanceSpec:
        overrides = dict(inst.overrides)
        if self.config.heartbeat_period_s > 0:
            overrides["heartbeat_period_s"] = self.config.heartbeat_period_s
        if self._groups[inst.kind].standbys > 0:
            # Redundant instances: each remembers what the other published, so a takeover
            # never serves a frame twice (runtime/exclusive.py).
            overrides["exclusive_outputs"] = True
        return InstanceSpec(inst.name, inst.kind, overrides, inst.namespace)

    def _spawn(self, inst: Instance) -> None:
        inst.reset_incarnation()
        inst.failure = ""
        if self.spawner is not None:
            self.spawner.spawn(self._spec(inst))

    def _kill(self, inst: Instance) -> None:
        if self.spawner is not None:
            try:
                self.spawner.kill(inst.name)
            except Exception:
                _log.exception("killing %s failed", inst.name)

    # ================================================================== inputs from the bus
    def _on_beat(self, info: HeartbeatInfo) -> None:
        now = time.monotonic()
        with self._lock:
            inst = self._by_fqn.get(info.node)
            if inst is None or info.incarnation in inst.dead_incarnations:
                return
            last = inst.last_beat
            if last is not None and last.incarnation == info.incarnation and info.seq <= last.seq:
                return  # reordered or duplicated beat
            if last is not None and last.incarnation == info.incarnation:
                inst.max_beat_gap_s = max(inst.max_beat_gap_s, now - inst.last_beat_at)
            inst.beats += 1
            inst.last_beat = info
            inst.last_beat_at = now
            inst.note_state(info.state, info.stamp_ns)
            if info.values.get("model"):
                inst.model = info.values["model"]
                group = self._groups[inst.kind]
                if not group.model and inst.role in (Role.ACTIVE, Role.STANDBY, Role.STARTING):
                    group.model = inst.model

    def _on_liveliness(self, fqn: str, alive: bool) -> None:
        if not alive:
            self._liveliness.put((fqn, alive, time.monotonic()))

    # ================================================================== transitions
    def _wait_seen(self, inst: Instance, timeout_s: float) -> str | None:
        """None once the instance's new incarnation has beaten or answered; else why not."""
        deadline = time.monotonic() + timeout_s
        # Nodes started by someone else (ros2 launch) may have no heartbeat configured: they
        # count as up once get_state answers, and are then watched by get_state polling.
        next_probe = time.monotonic() + (0.0 if self.config.heartbeat_period_s <= 0 else 2.0)
        while time.monotonic() < deadline:
            if inst.failure:
                return inst.failure
            if inst.last_beat is not None:
                return None
            if time.monotonic() >= next_probe:
                with contextlib.suppress(NodeUnreachableError):
                    self.port.client(inst.fqn).get_state(min(1.0, self.config.get_state_timeout_s))
                    if inst.last_beat is None and self.config.heartbeat_period_s > 0:
                        _log.info("%s answers but sends no heartbeat; watching it by get_state", inst.name)
                    inst.reachable = True
                    return None
                next_probe = time.monotonic() + 0.5
            if self._stop.wait(0.01):
                return "manager stopping"
        return f"{inst.name} did not come up within {timeout_s:g} s"

    def _transition(self, inst: Instance, label: str, timeout_s: float) -> str | None:
        """Run a transition; None on success, else the reason (the node's last_error when it says)."""
        sent_ns = self._now_ns()
        try:
            ok = self.port.client(inst.fqn).change_state(label, timeout_s)
        except NodeUnreachableError as exc:
            return f"{inst.name}: {label} unanswered ({exc})"
        if ok:
            target = _TARGETS.get(label)
            if target is not None:
                with self._lock:
                    inst.note_state(target, self._now_ns())
            return None
        return f"{inst.name}: {label} failed: {self._reason_after(inst, sent_ns)}"

    def _reason_after(self, inst: Instance, sent_ns: int, wait_s: float | None = None) -> str:
        # The heartbeat carries last_error; wait for one sent after the transition.
        period = self.config.heartbeat_period_s
        wait = wait_s if wait_s is not None else (max(0.2, 5 * period) if period > 0 else 0.0)
        deadline = time.monotonic() + wait
        while True:
            beat = inst.last_beat
            # A beat sent mid-transition (state "configuring") does not know the outcome yet.
            if beat is not None and beat.stamp_ns >= sent_ns and beat.state in _PRIMARY:
                return beat.last_error or f"node reports state {beat.state.label}"
            if time.monotonic() >= deadline:
                return "no reason reported"
            time.sleep(0.002)

    def _state(self, inst: Instance) -> State | None:
        """The node's state as it answers now (heartbeats may lag a transition); None if unknown."""
        try:
            return self.port.client(inst.fqn).get_state(max(0.5, self.config.get_state_timeout_s))
        except NodeUnreachableError:
            beat = inst.last_beat
            return beat.state if beat is not None else None

    def _configure_new(self, inst: Instance) -> str | None:
        reason = self._wait_seen(inst, self.config.spawn_timeout_s)
        if reason is not None:
            return reason
        state = self._state(inst)
        if state in (State.INACTIVE, State.ACTIVE):
            return None  # already configured (a node started by someone else, adopted as it is)
        return self._transition(inst, "configure", self.config.configure_timeout_s)

    # ================================================================== status
    def status(self) -> dict[str, Any]:
        """Roles, states and models of every instance, plus recent events and counters."""
        now = time.monotonic()
        with self._lock:
            groups = [
                {
                    "node": g.kind,
                    "model": g.model or (g.active.model if g.active is not None else ""),
                    "standbys_wanted": g.standbys,
                    "active": g.active.name if g.active is not None else None,
                    "instances": [i.describe(now) for i in g.instances],
                }
                for g in self._groups.values()
            ]
            events = list(self._events)[-20:]
        return {
            "running": self.running,
            "brought_up": self.brought_up,
            "heartbeat_period_s": self.config.heartbeat_period_s,
            "heartbeat_timeout_s": self.config.heartbeat_timeout_s,
            "nodes": groups,
            "counters": dict(self.counters),
            "events": events,
        }

    # ================================================================== queries
    def roles(self, kind: str) -> dict[str, str]:
        """Instance name -> role of one kind (a snapshot)."""
        with self._lock:
            return {i.name: i.role.value for i in self.group(kind).instances}

    def active_name(self, kind: str) -> str | None:
        """Name of the kind's active instance."""
        with self._lock:
            active = self.group(kind).active
            return active.name if active is not None else None

    def names(self, roles: Iterable[Role] | None = None) -> list[str]:
        """Instance names, optionally only those in `roles`."""
        wanted = set(roles) if roles is not None else None
        return [i.name for i in self.instances() if wanted is None or i.role in wanted]
