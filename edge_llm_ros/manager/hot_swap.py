"""Hot-swap of a node kind's model: validate, load a candidate, switch, serve, commit or roll back."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from edge_llm_ros.manager.core import Group, SwapResult
from edge_llm_ros.manager.monitor import HealthMonitor
from edge_llm_ros.manager.ports import NodeUnreachableError
from edge_llm_ros.manager.roles import Instance, Role

_log = logging.getLogger(__name__)


class HotSwap(HealthMonitor):
    """Hot-swap of a node kind's model: validate, load a candidate, switch, serve, commit or roll back."""

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
