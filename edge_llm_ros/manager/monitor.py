"""Health monitoring, failure handling and warm-standby failover of the lifecycle manager."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from edge_llm_ros.manager.core import Group, ManagerCore
from edge_llm_ros.manager.ports import NodeUnreachableError
from edge_llm_ros.manager.roles import MONITORED, Instance, Role, model_id_of
from edge_llm_ros.runtime.lifecycle import State

_log = logging.getLogger(__name__)

#: A liveliness loss this soon after an instance was (re)spawned belongs to its previous incarnation.
_STALE_LIVELINESS_S = 0.1


class HealthMonitor(ManagerCore):
    """Health monitoring, failure handling and warm-standby failover of the lifecycle manager."""

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
