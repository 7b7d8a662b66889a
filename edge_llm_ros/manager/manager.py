"""The lifecycle manager: ordered bring-up, health monitoring, warm-standby failover, hot-swap.

Threads and locking. Heartbeats and liveliness events arrive on transport threads and are only
recorded (under `_lock`, in microseconds). One monitor thread looks at heartbeat ages every
`check_period_s` and handles every failure itself, in order: kill the failed instance (SIGKILL
goes out before anything else, so a stopped process can never resume and publish), activate a
standby (one lifecycle service call), then queue the respawn. Slow work (spawning, waiting for a
process to come up, configuring, i.e. loading a model) runs on a small worker pool or on the
caller's thread (bring-up, swap) and never holds `_lock`, so a swap that is loading a model never
delays a failover.

Guarantees (see docs/operations.md):
- at most one instance of a kind is active at any time: failover activates the standby only after
  the failed instance was SIGKILLed (or its in-process node destroyed); a swap deactivates the old
  instance (its lifecycle publishers stop when the transition returns) before activating the new;
- a standby keeps its newest inputs queued while inactive (keep-last), so frames that were in
  flight in the old instance are served by the new one; a frame both may have served is decided
  once, because the decision node pairs exactly one detections message with each (stamp, camera)
  and ignores later ones.
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
from edge_llm_ros.manager.roles import MONITORED, Instance, Role, model_id_of
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
#: A liveliness loss this soon after an instance was (re)spawned belongs to its previous incarnation.
_STALE_LIVELINESS_S = 0.1

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


class LifecycleManager:
    """Manages the node kinds of one scene through a `NodePort` (and a `Spawner` when it has one)."""

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
            if kind not in taken:
                return kind
            # The names launch/traffic.launch.py gives standbys, so the two ways of running agree.
            index = 1
            while f"{kind}_standby_{index}" in taken:
                index += 1
            return f"{kind}_standby_{index}"

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

    # ================================================================== monitor
    def start_monitor(self) -> None:
        """Start the health monitor (idempotent); bring_up() calls it."""
        if self._monitor is not None:
            return
        self._unwatch_liveliness = self.port.watch_liveliness(self._on_liveliness)
        self._monitor = threading.Thread(target=self._monitor_loop, name="manager-monitor", daemon=True)
        self._monitor.start()
        if self.config.get_state_period_s > 0:
            self._poller = threading.Thread(target=self._poll_loop, name="manager-get-state", daemon=True)
            self._poller.start()

    def _monitor_loop(self) -> None:
        while not self._stop.wait(self.config.check_period_s):
            try:
                self.check()
            except Exception:
                _log.exception("health check failed; monitoring goes on")

    def check(self) -> None:
        """One health pass: liveliness events, exited processes, heartbeat ages, executor lag."""
        now = time.monotonic()
        failures: list[tuple[Instance, str]] = []
        while True:
            try:
                fqn, _alive, at = self._liveliness.get_nowait()
            except queue.Empty:
                break
            with self._lock:
                inst = self._by_fqn.get(fqn)
            # Events carry no process id: one that comes right after a (re)spawn is the killed
            # incarnation's token going away, not the new one's. A starting instance is watched
            # by whoever started it (heartbeat wait, process exit) instead.
            if inst is None or inst.role is Role.STARTING or at < inst.started_at + _STALE_LIVELINESS_S:
                continue
            if inst.role in MONITORED and inst.seen:
                failures.append((inst, "left the bus (liveliness lost)"))
        if self.spawner is not None:
            for name in self.spawner.exited():
                inst = self._find_name(name)
                if inst is None:
                    continue
                if inst.role is Role.STARTING:
                    inst.failure = "process exited"
                elif inst.role in MONITORED:
                    failures.append((inst, "process exited"))
        fast = self.config.heartbeat_timeout_s
        slow = max(fast, self.config.restart_timeout_s)
        stall = self.config.executor_stall_timeout_s
        with self._lock:
            watched = [i for i in self._by_fqn.values() if i.role in MONITORED and i.role is not Role.STARTING]
        for inst in watched:
            beat = inst.last_beat
            if beat is None:
                continue
            # Only an active instance with a warm standby ready to take over gets the fast
            # verdict: a false alarm there costs a switch (ms); elsewhere, e.g. right after a
            # failover while the replacement standby is still starting, it costs a restart.
            protected = inst.role is Role.ACTIVE and self._has_ready_standby(self._groups[inst.kind])
            timeout = fast if protected else slow
            age = now - inst.last_beat_at
            if age > timeout:
                failures.append((inst, f"no heartbeat for {age * 1e3:.0f} ms (timeout {timeout * 1e3:.0f} ms)"))
            elif stall > 0 and beat.executor_lag_s > stall:
                failures.append((inst, f"executor stalled for {beat.executor_lag_s:.2f} s"))
            elif beat.state is State.FINALIZED:
                failures.append((inst, "node finalized"))
        seen: set[str] = set()
        for inst, reason in failures:
            if inst.name not in seen:
                seen.add(inst.name)
                self.fail(inst, reason)

    def _poll_loop(self) -> None:
        # A second, independent signal: a node that beats but whose services do not answer
        # (e.g. its transport threads are wedged) is hung as far as the manager is concerned.
        while not self._stop.wait(self.config.get_state_period_s):
            with self._lock:
                actives = [g.active for g in self._groups.values() if g.active is not None]
            for inst in actives:
                if inst is None or self._stop.is_set() or not self.running:
                    continue
                try:
                    self.port.client(inst.fqn).get_state(self.config.get_state_timeout_s)
                except NodeUnreachableError as exc:
                    if inst.role is Role.ACTIVE:
                        self.fail(inst, f"get_state unanswered: {exc}")

    def _find_name(self, name: str) -> Instance | None:
        with self._lock:
            for group in self._groups.values():
                for inst in group.instances:
                    if inst.name == name and inst.role is not Role.RETIRED:
                        return inst
        return None

    # ================================================================== failure handling
    def fail(self, inst: Instance, reason: str) -> None:
        """Declare `inst` failed: kill it, fail over if it was active, respawn it.

        Called by the monitor thread (or by a step that found the node unusable).
        """
        detected_ns = self._now_ns()
        with self._lock:
            if inst.role not in MONITORED:
                return
            old_role = inst.role
            inst.set_role(Role.FAILED)
            inst.failure = reason
        beat = inst.last_beat
        # Kill first: a stopped (SIGSTOP) process must never wake up and publish next to the
        # standby we are about to activate.
        self._kill(inst)
        _log.warning("%s (%s) failed: %s", inst.name, old_role.value, reason)
        record: dict[str, Any] = {
            "event": "failure",
            "kind": inst.kind,
            "instance": inst.name,
            "role": old_role.value,
            "reason": reason,
            "pid": beat.pid if beat is not None else None,
            "last_beat_ns": beat.stamp_ns if beat is not None else None,
            "detected_ns": detected_ns,
        }
        group = self._groups[inst.kind]
        if old_role is Role.ACTIVE:
            record["event"] = "failover"
            if self.running:
                self._failover(group, record)
            else:
                record["activated"] = None
        # Recorded once complete: readers see a failover together with who took over.
        self._record(record)
        if old_role in (Role.CANDIDATE, Role.PREVIOUS):
            # A candidate belongs to its swap (which reports it); a previous instance was only
            # kept for rollback. Neither is respawned.
            with self._lock:
                inst.set_role(Role.RETIRED)
            self._forget(inst)
            return
        if self.config.respawn and not self._stop.is_set():
            self._workers.submit(self._respawn, inst, record)

    def _failover(self, group: Group, record: dict[str, Any]) -> None:
        # Rollback first: the previous instance of a swap runs the old, proven model.
        for candidate in self._standby_order(group):
            start = time.monotonic()
            try:
                ok = self.port.client(candidate.fqn).change_state("activate", self.config.activate_timeout_s)
                why = "refused activate"
            except NodeUnreachableError as exc:
                ok, why = False, f"activate unanswered: {exc}"
            if ok:
                with self._lock:
                    was = candidate.role
                    candidate.set_role(Role.ACTIVE)
                    candidate.note_state(State.ACTIVE, self._now_ns())
                record.update(
                    activated=candidate.name,
                    activated_ns=self._now_ns(),
                    activate_ms=round((time.monotonic() - start) * 1e3, 3),
                    rollback=was is Role.PREVIOUS,
                )
                self.counters["failovers"] += 1
                if was is Role.PREVIOUS:
                    self.counters["rollbacks"] += 1
                _log.warning("failover: %s took over %s", candidate.name, record["instance"])
                return
            self.fail(candidate, why)
        record["activated"] = None
        _log.error("failover of %s: no standby could take over", group.kind)

    def _has_ready_standby(self, group: Group) -> bool:
        with self._lock:
            return any(
                i.seen and i.state is State.INACTIVE for i in group.instances if i.role in (Role.STANDBY, Role.PREVIOUS)
            )

    def _standby_order(self, group: Group) -> list[Instance]:
        with self._lock:
            previous = group.with_role(Role.PREVIOUS)
            ready = [
                i for i in group.with_role(Role.STANDBY) if i.last_beat is None or i.last_beat.state is State.INACTIVE
            ]
        # Freshest heartbeat first: the likeliest to answer at once.
        ready.sort(key=lambda i: -i.last_beat_at)
        return previous + ready

    def _respawn(self, inst: Instance, record: dict[str, Any]) -> None:
        group = self._groups[inst.kind]
        started = time.monotonic()
        for attempt in range(self.config.max_respawn_attempts):
            if self._stop.is_set():
                return
            if attempt:
                time.sleep(self.config.respawn_backoff_s * attempt)
            with self._lock:
                if inst.role is not Role.FAILED:
                    return
                inst.overrides = dict(group.overrides)
                params = self.config.model_params_for(group.kind)
                inst.model = model_id_of(inst.overrides, params.name_param, params.version_param) or group.model
                inst.respawns += 1
                inst.set_role(Role.STARTING)
            self._spawn(inst)
            reason = self._configure_new(inst)
            if reason is None:
                role = self._settle(group, inst)
                self.counters["respawns"] += 1
                record["respawned_ns"] = self._now_ns()
                record["respawn_s"] = round(time.monotonic() - started, 3)
                record["respawned_as"] = role.value
                _log.info("%s respawned as %s", inst.name, role.value)
                return
            _log.warning("respawn %d of %s failed: %s", attempt + 1, inst.name, reason)
            with self._lock:
                inst.set_role(Role.FAILED)
                inst.failure = reason
            self._kill(inst)
        record["respawn_failed"] = inst.failure
        _log.error("%s could not be respawned: %s", inst.name, inst.failure)

    def _settle(self, group: Group, inst: Instance) -> Role:
        """A freshly configured instance becomes the active one if the kind has none, else a standby."""
        with self._lock:
            needs_active = group.active is None and self.running
        if needs_active:
            try:
                if self.port.client(inst.fqn).change_state("activate", self.config.activate_timeout_s):
                    with self._lock:
                        inst.set_role(Role.ACTIVE)
                        inst.note_state(State.ACTIVE, self._now_ns())
                    return Role.ACTIVE
            except NodeUnreachableError:
                pass
        with self._lock:
            inst.set_role(Role.STANDBY)
        return Role.STANDBY

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

    # ================================================================== bring-up, start/stop/reset
    def bring_up(self) -> None:
        """Spawn (when there is a spawner), configure everything in order, then activate in order.

        Raises ManagerError naming the first node that did not come up and why.
        """
        with self._lock:
            fresh = not self.brought_up
            if fresh:
                for group in self._groups.values():
                    self._add_instance(group, Role.STARTING)
                    for _ in range(group.standbys):
                        self._add_instance(group, Role.STARTING)
        self.start_monitor()
        if fresh and self.spawner is not None:
            # Without a spawner (ros2 launch started the nodes) the processes already beating are
            # the ones to manage: _spawn would file their incarnation as dead and ignore its beats.
            for inst in self.instances():
                self._spawn(inst)
        # Configure all, in node_names order (each kind's first instance is its active one).
        for group in self._groups.values():
            for inst in list(group.instances):
                if inst.role is not Role.STARTING:
                    continue
                reason = self._configure_new(inst)
                if reason is not None:
                    with self._lock:
                        inst.set_role(Role.FAILED)
                        inst.failure = reason
                    raise ManagerError(f"bring-up: {reason}")
                with self._lock:
                    inst.set_role(Role.STANDBY)
        self.brought_up = True
        self.start()

    def start(self) -> None:
        """Activate one instance per kind, in order (bring up first if never done)."""
        if not self.brought_up:
            self.bring_up()
            return
        for group in self._groups.values():
            with self._lock:
                active = group.active
                if active is None:
                    # Creation order: the kind's first instance (named like the kind) leads.
                    ready = group.with_role(Role.STANDBY, Role.PREVIOUS)
                    if not ready:
                        raise ManagerError(f"start: {group.kind} has no configured instance")
                    active = ready[0]
            state = self._state(active)
            if state is State.UNCONFIGURED:
                reason = self._transition(active, "configure", self.config.configure_timeout_s)
                if reason is not None:
                    raise ManagerError(f"start: {reason}")
            if state is not State.ACTIVE:
                reason = self._transition(active, "activate", self.config.activate_timeout_s)
                if reason is not None:
                    raise ManagerError(f"start: {reason}")
            with self._lock:
                active.set_role(Role.ACTIVE)
            # Standbys that were reset need configuring again to be warm; an adopted node that
            # was already active must step back (one active instance per kind).
            for inst in group.with_role(Role.STANDBY):
                state = self._state(inst)
                if state is State.ACTIVE:
                    reason = self._transition(inst, "deactivate", self.config.deactivate_timeout_s)
                    if reason is not None:
                        self.fail(inst, f"second active instance would not step back: {reason}")
                elif state is State.UNCONFIGURED:
                    reason = self._transition(inst, "configure", self.config.configure_timeout_s)
                    if reason is not None:
                        _log.warning("start: standby %s", reason)
        self.running = True

    def stop(self) -> None:
        """Deactivate the active instances in reverse order; standbys stay configured."""
        self.running = False
        for group in reversed(list(self._groups.values())):
            active = group.active
            if active is not None:
                reason = self._transition(active, "deactivate", self.config.deactivate_timeout_s)
                if reason is not None:
                    _log.warning("stop: %s", reason)

    def reset(self) -> None:
        """Stop, then clean up every instance (unconfigured: models unloaded)."""
        self.stop()
        for group in reversed(list(self._groups.values())):
            for inst in group.with_role(Role.ACTIVE, Role.STANDBY, Role.PREVIOUS):
                reason = self._transition(inst, "cleanup", self.config.cleanup_timeout_s)
                if reason is not None:
                    _log.warning("reset: %s", reason)

    def shutdown(self) -> None:
        """Stop monitoring, shut every instance down (bounded), stop the processes."""
        self.running = False
        self._stop.set()
        if self._unwatch_liveliness is not None:
            self._unwatch_liveliness()
        for thread in (self._monitor, self._poller):
            if thread is not None:
                thread.join(2.0)
        self._workers.shutdown(wait=False, cancel_futures=True)
        for group in reversed(list(self._groups.values())):
            for inst in list(group.instances):
                if inst.role in (Role.FAILED, Role.RETIRED):
                    continue
                with self._lock:
                    inst.set_role(Role.RETIRED)
                if inst.last_beat is not None:
                    with contextlib.suppress(NodeUnreachableError):
                        self.port.client(inst.fqn).change_state("shutdown", self.config.shutdown_timeout_s)
                if self.spawner is not None:
                    self.spawner.stop(inst.name, self.config.shutdown_timeout_s)

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

    # ================================================================== hot-swap
    def swap(self, kind: str, model_id: str) -> SwapResult:
        """Hot-swap the model of node kind `kind` to `model_id` (`name@version` or `name`).

        Steps: pre-check (validator: manifest, sha256, io spec, golden inputs), start a candidate
        instance with the new model, configure it (the node verifies the model again as it loads
        it), switch roles (deactivate old, activate new), keep the old instance loaded until the
        new one has served, then retire the old instance and replace the standbys with new-model
        ones. Any failure before the switch leaves the old instance serving, untouched; a failure
        after it rolls back to the old instance.
        """
        if not self._swap_lock.acquire(blocking=False):
            return SwapResult(False, kind, model_id, "rejected", "another swap is in progress")
        try:
            return self._swap(kind, model_id)
        finally:
            self._swap_lock.release()

    def _swap(self, kind: str, model_id: str) -> SwapResult:
        t0 = time.monotonic()
        timings: dict[str, float] = {}
        record: dict[str, Any] = {"event": "swap", "kind": kind, "model": model_id, "requested_ns": self._now_ns()}
        group = self._groups.get(kind)
        previous_model = group.model if group is not None else ""

        def finish(outcome: str, reason: str = "") -> SwapResult:
            timings["total"] = (time.monotonic() - t0) * 1e3
            ok = outcome == "committed"
            result = SwapResult(ok, kind, model_id, outcome, reason, previous_model)
            result.timings_ms = {k: round(v, 3) for k, v in timings.items()}
            record.update(outcome=outcome, reason=reason, timings_ms=result.timings_ms)
            self._record(record)
            if outcome == "rolled_back":
                self.counters["rollbacks"] += 1
            elif ok:
                self.counters["swaps"] += 1
            log = _log.info if ok else _log.warning
            log("swap %s -> %s: %s %s", kind, model_id, outcome, reason)
            return result

        if group is None:
            return finish("rejected", f"unknown node {kind!r}; managed: {list(self._groups)}")
        if not self.running or group.active is None:
            return finish("rejected", f"{kind} has no active instance to swap from")
        if self.spawner is None:
            return finish("rejected", "hot-swap needs a process supervisor (edge-llm-ros run)")
        params = self.config.model_params_for(kind)
        name, _, version = model_id.partition("@")
        if not name:
            return finish("rejected", f"{model_id!r} is not a model id (NAME[@VERSION])")
        overrides = {params.name_param: name, params.version_param: version}

        # 1. Pre-check in this process: a model that fails here never reaches a node.
        if self.validator is not None:
            try:
                self.validator(kind, model_id)
            except ValueError as exc:
                timings["validate"] = (time.monotonic() - t0) * 1e3
                return finish("rejected", f"validation: {exc}")
        timings["validate"] = (time.monotonic() - t0) * 1e3

        # 2. A candidate instance loads (and, in on_configure, verifies) the new model.
        candidate = self._add_instance(group, Role.STARTING, overrides)
        record["candidate"] = candidate.name
        self._spawn(candidate)
        reason = self._configure_new(candidate)
        timings["load"] = (time.monotonic() - t0) * 1e3 - timings["validate"]
        if reason is not None:
            self._discard(candidate)
            return finish("rejected", reason)
        with self._lock:
            candidate.set_role(Role.CANDIDATE)

        # 3. Switch: break before make, so the two never publish at the same time.
        with self._lock:
            old = group.active
        if old is None or candidate.role is not Role.CANDIDATE:
            self._discard(candidate)
            if old is None:
                return finish("rejected", "the active instance failed during the swap")
            return finish("rejected", f"candidate failed: {candidate.failure}")
        switch_start = time.monotonic()
        reason = self._transition(old, "deactivate", self.config.deactivate_timeout_s)
        if reason is not None:
            self._discard(candidate)
            return finish("rejected", f"old instance would not stop: {reason}")
        with self._lock:
            old.set_role(Role.PREVIOUS)
        reason = self._transition(candidate, "activate", self.config.activate_timeout_s)
        if reason is not None:
            self._reactivate(old)
            self._discard(candidate)
            return finish("rolled_back", reason)
        with self._lock:
            candidate.set_role(Role.ACTIVE)
        timings["switch"] = (time.monotonic() - switch_start) * 1e3
        record.update(switched_ns=self._now_ns(), previous=old.name)
        published_at_switch = candidate.last_beat.published if candidate.last_beat is not None else 0

        # 4. Keep the old one loaded until the new one has served; roll back if it fails first.
        deadline = time.monotonic() + self.config.swap_serve_timeout_s
        served = False
        while time.monotonic() < deadline and not self._stop.is_set():
            if candidate.role is not Role.ACTIVE:
                # The monitor failed it over, which activated `old` (the PREVIOUS) first.
                return finish("rolled_back", f"new instance failed: {candidate.failure}")
            beat = candidate.last_beat
            if beat is not None and beat.published - published_at_switch >= self.config.swap_serve_messages:
                served = True
                break
            time.sleep(min(0.005, self.config.check_period_s))
        timings["serve"] = (time.monotonic() - switch_start) * 1e3 - timings["switch"]
        if not served:
            # Roll back: the new model never produced an output.
            if candidate.role is Role.ACTIVE:
                self._transition(candidate, "deactivate", self.config.deactivate_timeout_s)
                self._reactivate(old)
                self._discard(candidate)
            return finish(
                "rolled_back", f"new instance published nothing within {self.config.swap_serve_timeout_s:g} s"
            )
        record["served_ns"] = self._now_ns()

        # 5. Commit: the new model becomes the kind's model; old instance and standbys are replaced.
        with self._lock:
            group.overrides = dict(overrides)
            group.model = model_id
            old_standbys = group.with_role(Role.STANDBY)
        self._retire(old)
        refresh_start = time.monotonic()
        for standby in old_standbys:
            self._replace_standby(group, standby)
        timings["standbys"] = (time.monotonic() - refresh_start) * 1e3
        record["committed_ns"] = self._now_ns()
        return finish("committed")

    def _reactivate(self, old: Instance) -> None:
        reason = self._transition(old, "activate", self.config.activate_timeout_s)
        if reason is None:
            with self._lock:
                old.set_role(Role.ACTIVE)
        else:
            self.fail(old, f"rollback failed: {reason}")

    def _discard(self, inst: Instance) -> None:
        """Drop a candidate that will not be used: kill it and forget it."""
        with self._lock:
            inst.set_role(Role.RETIRED)
        self._kill(inst)
        self._forget(inst)

    def _retire(self, inst: Instance) -> None:
        """Shut an instance down on purpose (no failover, no respawn)."""
        with self._lock:
            if inst.role is Role.RETIRED:
                return
            inst.set_role(Role.RETIRED)
        with contextlib.suppress(NodeUnreachableError):
            self.port.client(inst.fqn).change_state("shutdown", self.config.shutdown_timeout_s)
        if self.spawner is not None:
            self.spawner.stop(inst.name, self.config.shutdown_timeout_s)
        self._forget(inst)

    def _replace_standby(self, group: Group, old: Instance) -> None:
        """Start a standby with the kind's current model, then retire `old` (coverage never drops)."""
        fresh = self._add_instance(group, Role.STARTING)
        self._spawn(fresh)
        reason = self._configure_new(fresh)
        if reason is not None:
            _log.warning("standby refresh of %s failed (%s); keeping %s", group.kind, reason, old.name)
            self._discard(fresh)
            return
        with self._lock:
            fresh.set_role(Role.STANDBY)
        if old.role is Role.STANDBY:
            self._retire(old)

    # ================================================================== helpers for tests/benchmarks
    def wait_for(self, predicate: Callable[[], bool], timeout_s: float, poll_s: float = 0.005) -> bool:
        """Poll `predicate` until true or `timeout_s` passed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(poll_s)
        return predicate()

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
