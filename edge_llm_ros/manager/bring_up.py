"""Ordered bring-up, start, stop, reset and shutdown of the managed node kinds."""

from __future__ import annotations

import contextlib
import logging

from edge_llm_ros.manager.core import ManagerError
from edge_llm_ros.manager.monitor import HealthMonitor
from edge_llm_ros.manager.ports import NodeUnreachableError
from edge_llm_ros.manager.roles import Role
from edge_llm_ros.runtime.lifecycle import State

_log = logging.getLogger(__name__)


class BringUp(HealthMonitor):
    """Ordered bring-up, start, stop, reset and shutdown of the managed node kinds."""

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
