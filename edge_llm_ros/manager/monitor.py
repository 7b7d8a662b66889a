"""Health monitoring, failure handling and warm-standby failover of the lifecycle manager."""

from __future__ import annotations

import contextlib
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
#: Fencing a failed active instance the manager cannot kill (no spawner: ros2 launch) by asking
#: it to deactivate: bounded, since a stopped node never answers and the switch must not wait.
_FENCE_TIMEOUT_S = 0.1

# Verdict causes: the evidence an instance was declared failed on (status()["verdicts"]).
PROCESS_EXITED = "process_exited"
LIVELINESS_LOST = "liveliness_lost"
NO_SIGN_OF_LIFE = "no_sign_of_life"
EXECUTOR_STALLED = "executor_stalled"
FINALIZED = "finalized"
#: Beats go on but services stay unanswered for the restart timeout (wedged transport threads).
WEDGED = "services_wedged"
#: A lifecycle call the manager made was refused or unanswered (failover, swap, start).
REFUSED = "transition_failed"


class HealthMonitor(ManagerCore):
    """Health monitoring, failure handling and warm-standby failover of the lifecycle manager."""

    # ================================================================== monitor
    def begin_shutdown(self) -> None:
        """The process is going down (SIGINT/SIGTERM): nodes that leave from now on are not failures.

        Called from a signal handler, before shutdown(): under ros2 launch every node gets the
        signal at once and would otherwise be failed over (and logged as an error) one by one.
        """
        self.running = False
        self._stop.set()

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
        """One health pass: liveliness events, exited processes, signs of life, executor lag.

        A verdict needs evidence of death: the process exited, its liveliness token is gone, the
        node reports itself finalized or its executor stalled, or it gave no sign of life (no
        heartbeat, no answered get_state) for the timeout that fits its situation. A slow answer
        alone is only counted (suspicions), never acted on.
        """
        now = time.monotonic()
        failures: list[tuple[Instance, str, str]] = []
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
            if inst.role not in MONITORED or not inst.seen:
                continue
            # A token that goes while the node was still beating is a process that closed its
            # connections (exit, crash): evidence. One that goes after a long silence is the
            # transport's lease expiring (1 s) on a stalled process, which may only be starved
            # of CPU: a verdict there only where a standby makes it a switch; elsewhere the
            # silence rule below decides, at restart_timeout_s.
            silence = at - inst.last_life_at
            if silence <= self.config.heartbeat_timeout_s or self._protected(inst):
                failures.append((inst, "left the bus (liveliness lost)", LIVELINESS_LOST))
            else:
                with self._lock:
                    self.suspicions[(inst.kind, "liveliness_lost")] += 1
        if self.spawner is not None:
            for name in self.spawner.exited():
                inst = self._find_name(name)
                if inst is None:
                    continue
                if inst.role is Role.STARTING:
                    inst.failure = "process exited"
                elif inst.role in MONITORED:
                    failures.append((inst, "process exited", PROCESS_EXITED))
        fast = self.config.heartbeat_timeout_s
        slow = max(fast, self.config.restart_timeout_s)
        stall = self.config.executor_stall_timeout_s
        with self._lock:
            watched = [i for i in self._by_fqn.values() if i.role in MONITORED and i.role is not Role.STARTING]
        for inst in watched:
            beat = inst.last_beat
            if beat is None and not (inst.role is Role.ACTIVE and inst.last_answer_at > 0 and self.running):
                # Never beat: a node watched by get_state polling only (ros2 launch without
                # heartbeats) is judged once polling has heard it, and only while polling runs
                # (it pauses while the manager is stopped); other such nodes not at all.
                continue
            # Only an active instance with a warm standby ready to take over gets the fast
            # verdict: a false alarm there costs a switch (ms), and the node is demoted, not
            # killed, if it comes back. Elsewhere a verdict means a restart (seconds of model
            # loading on a CPU that is already busy, frames undecided meanwhile): be sure first.
            timeout = fast if self._protected(inst) else slow
            # A node heard only by polling was not polled while the manager was stopped.
            silence = now - (inst.last_life_at if beat is not None else max(inst.last_life_at, self._running_since))
            if silence > timeout:
                what = "no heartbeat" if beat is not None else "get_state unanswered"
                failures.append(
                    (inst, f"{what} for {silence * 1e3:.0f} ms (timeout {timeout * 1e3:.0f} ms)", NO_SIGN_OF_LIFE)
                )
            elif self._stalled(inst, stall):
                assert beat is not None
                failures.append((inst, f"executor stalled for {beat.executor_lag_s:.2f} s", EXECUTOR_STALLED))
            elif beat is not None and beat.state is State.FINALIZED:
                failures.append((inst, "node finalized", FINALIZED))
            elif silence > fast and inst.role is Role.ACTIVE:
                if not inst.late:
                    inst.late = True  # one suspicion per late episode, not one per check
                    with self._lock:
                        self.suspicions[(inst.kind, "heartbeat_late")] += 1
            else:
                inst.late = False
        seen: set[str] = set()
        for inst, reason, cause in failures:
            if inst.name not in seen:
                seen.add(inst.name)
                self.fail(inst, reason, cause)
        self._demote_stray_actives()

    @staticmethod
    def _stalled(inst: Instance, stall: float) -> bool:
        # Lifecycle transitions run on the executor (configure loads and warms the model: seconds
        # on a busy CPU), so lag during one is work, not a hang, and the first beat after one may
        # still carry it: a freshly respawned standby was condemned over and over for its own
        # configure. A hang is a primary state whose lag stays over the limit for two beats.
        beat = inst.last_beat
        stable = beat is not None and beat.state in (State.ACTIVE, State.INACTIVE)
        if beat is None or not stable or stall <= 0 or beat.executor_lag_s <= stall:
            inst.stall_seq = None
            return False
        if inst.stall_seq is None:
            inst.stall_seq = beat.seq
        return beat.seq > inst.stall_seq

    def _demote_stray_actives(self) -> None:
        # A node that comes back after a verdict (a stopped process the manager could not kill,
        # under ros2 launch) still believes it is active: step it back, so that at most one
        # instance per kind serves. Only beats sent after its role changed say so.
        with self._lock:
            strays = [
                i
                for g in self._groups.values()
                if g.active is not None
                for i in g.instances
                # A starting instance is settled (and stepped back) by its respawn.
                if i.role not in (Role.ACTIVE, Role.RETIRED, Role.STARTING)
                and i.last_beat is not None
                and i.last_beat.state is State.ACTIVE
                and i.last_beat_at > i.role_since
                and i.name not in self._demoting
            ]
            for inst in strays:
                self._demoting.add(inst.name)
        for inst in strays:
            # Its own thread: the respawn workers may all be waiting for processes to come up.
            threading.Thread(target=self._demote, args=(inst,), name=f"demote-{inst.name}", daemon=True).start()

    def _demote(self, inst: Instance) -> None:
        try:
            reason = self._transition(inst, "deactivate", self.config.deactivate_timeout_s)
            if reason is None:
                with self._lock:
                    self.counters["demotions"] += 1
                _log.warning("%s came back active beside the active instance; deactivated it", inst.name)
            else:
                _log.warning("demoting %s: %s", inst.name, reason)
        finally:
            with self._lock:
                self._demoting.discard(inst.name)

    def _poll_loop(self) -> None:
        # A second sign of life: an answered get_state shows a node alive even when its beats
        # are late (a busy CPU). An unanswered one is NOT a verdict by itself: a loaded node can
        # take longer than the timeout to answer. Only silence on every channel for the
        # restart timeout condemns a node (check()), or services that stay unanswered that long
        # while beats go on (wedged transport threads).
        while not self._stop.wait(self.config.get_state_period_s):
            with self._lock:
                actives = [g.active for g in self._groups.values() if g.active is not None]
            for inst in actives:
                if inst is None or self._stop.is_set() or not self.running:
                    continue
                try:
                    self.port.client(inst.fqn).get_state(self.config.get_state_timeout_s)
                except NodeUnreachableError as exc:
                    now = time.monotonic()
                    with self._lock:
                        self.suspicions[(inst.kind, "get_state_unanswered")] += 1
                        if not inst.unanswered_since:
                            inst.unanswered_since = now
                        wedged = now - inst.unanswered_since > max(
                            self.config.restart_timeout_s, self.config.heartbeat_timeout_s
                        )
                    if wedged and inst.role is Role.ACTIVE and inst.last_beat is not None:
                        self.fail(inst, f"get_state unanswered for {now - inst.unanswered_since:.1f} s: {exc}", WEDGED)
                else:
                    with self._lock:
                        inst.last_answer_at = time.monotonic()
                        inst.unanswered_since = 0.0

    def _find_name(self, name: str) -> Instance | None:
        with self._lock:
            for group in self._groups.values():
                for inst in group.instances:
                    if inst.name == name and inst.role is not Role.RETIRED:
                        return inst
        return None

    # ================================================================== failure handling
    def fail(self, inst: Instance, reason: str, cause: str = REFUSED) -> None:
        """Declare `inst` failed on evidence `cause`: fence it, fail over if it was active, respawn it.

        Called by the monitor thread (or by a step that found the node unusable).
        """
        detected_ns = self._now_ns()
        with self._lock:
            if inst.role not in MONITORED or self._stop.is_set():
                return  # shutting down: nodes leaving now are not failures
            old_role = inst.role
            inst.set_role(Role.FAILED)
            inst.failure = reason
            self.verdicts[(inst.kind, cause)] += 1
            self.counters["verdicts"] += 1
        beat = inst.last_beat
        # Fence first: a stopped (SIGSTOP) process must never wake up and publish next to the
        # standby we are about to activate. SIGKILL where we can; else ask it to step back
        # (bounded), and _demote_stray_actives() catches it if it comes back active anyway.
        self._kill(inst)
        if self.spawner is None and old_role is Role.ACTIVE:
            with contextlib.suppress(NodeUnreachableError):
                self.port.client(inst.fqn).change_state("deactivate", _FENCE_TIMEOUT_S)
        _log.warning("%s (%s) failed: %s", inst.name, old_role.value, reason)
        record: dict[str, Any] = {
            "event": "failure",
            "kind": inst.kind,
            "instance": inst.name,
            "role": old_role.value,
            "reason": reason,
            "cause": cause,
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
            self.fail(candidate, why, REFUSED)
        record["activated"] = None
        if group.standbys > 0:
            _log.error("failover of %s: no standby could take over", group.kind)
        else:
            # Not a surprise where none was asked for: the respawn restarts it in place.
            _log.warning("%s has no standby: restarting it", group.kind)

    def _protected(self, inst: Instance) -> bool:
        """An active instance with a ready standby: a false alarm costs a switch, not a restart."""
        return inst.role is Role.ACTIVE and self._has_ready_standby(self._groups[inst.kind])

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
        # An adopted node that is still active (it came back after a verdict it could not be
        # killed for) steps back: one active instance per kind.
        # Asked afresh: the fencing deactivate may have reached it as it resumed.
        if inst.state is State.ACTIVE and self._state(inst) is State.ACTIVE:
            reason = self._transition(inst, "deactivate", self.config.deactivate_timeout_s)
            if reason is not None:
                _log.warning("settling %s as a standby: %s", inst.name, reason)
            else:
                with self._lock:
                    self.counters["demotions"] += 1
        with self._lock:
            inst.set_role(Role.STANDBY)
        return Role.STANDBY
