"""Starting and killing node instances: the manager's process-supervisor callback.

`Spawner` is what the manager calls; `ProcessSupervisor` implements it with one OS process per
instance, each in its own process group (so a node's helpers die with it and a signal to the group
reaches everything), output to a log file per instance, a clean stop (SIGTERM to the group, then
SIGKILL after a bounded wait) and `exited()` for instant crash detection by the parent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstanceSpec:
    """One instance to start: its node name, its kind (registry key) and parameter overrides."""

    name: str
    kind: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    namespace: str = "/"


class Spawner(Protocol):
    """Starts and stops instances; all methods return quickly (start-up is watched by heartbeats)."""

    def spawn(self, spec: InstanceSpec) -> None:
        """Start an instance (a process, or a node in this process)."""

    def kill(self, name: str) -> None:
        """Stop it at once (SIGKILL): it must never publish again. Idempotent."""

    def stop(self, name: str, timeout_s: float) -> None:
        """Stop it cleanly, escalating to kill after `timeout_s`. Idempotent."""

    def exited(self) -> list[str]:
        """Instances whose process ended since the last call (empty where that is unknowable)."""


CommandBuilder = Callable[[InstanceSpec], Sequence[str]]


@dataclass
class _Child:
    spec: InstanceSpec
    proc: subprocess.Popen[bytes]
    log: IO[bytes]
    reported: bool = False


class ProcessSupervisor:
    """One process per instance, each in its own process group."""

    def __init__(
        self,
        command: CommandBuilder,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self._command = command
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._env = dict(os.environ if env is None else env)
        self._cwd = cwd
        self._children: dict[str, _Child] = {}
        self._reapers: list[threading.Thread] = []
        self._lock = threading.Lock()

    def spawn(self, spec: InstanceSpec) -> None:
        """Start the instance's process; a running process of the same name is killed first."""
        self.kill(spec.name)
        argv = list(self._command(spec))
        log = (self.log_dir / f"{spec.name}.log").open("ab")
        log.write(f"--- {time.strftime('%H:%M:%S')} spawn {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._env,
            cwd=self._cwd,
            start_new_session=True,  # own session and process group: signals reach the whole tree
        )
        with self._lock:
            self._children[spec.name] = _Child(spec, proc, log)
        _log.info("spawned %s (%s) pid %d", spec.name, spec.kind, proc.pid)

    def pid(self, name: str) -> int | None:
        """The pid of the instance's process, if it runs."""
        with self._lock:
            child = self._children.get(name)
        return child.proc.pid if child is not None and child.proc.poll() is None else None

    def names(self) -> list[str]:
        """Instances with a process (running or not yet reaped)."""
        with self._lock:
            return list(self._children)

    def _signal_group(self, child: _Child, sig: signal.Signals) -> None:
        # The child leads its own group (start_new_session), so its pgid is its pid.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, sig)

    def kill(self, name: str) -> None:
        """SIGKILL the instance's whole process group (a stopped process dies too).

        Returns as soon as the signal is sent (the kernel guarantees the process runs no more
        user code); reaping happens on a background thread so a failover is not delayed by it.
        """
        with self._lock:
            child = self._children.pop(name, None)
        if child is None:
            return
        self._signal_group(child, signal.SIGKILL)
        reaper = threading.Thread(target=self._reap, args=(child, 5.0), name=f"reap-{name}", daemon=True)
        with self._lock:
            self._reapers.append(reaper)
        reaper.start()

    def stop(self, name: str, timeout_s: float) -> None:
        """SIGTERM the group; SIGKILL it if it has not exited within `timeout_s`."""
        with self._lock:
            child = self._children.pop(name, None)
        if child is None:
            return
        self._terminate([child], timeout_s)

    def send_signal(self, name: str, sig: signal.Signals) -> int:
        """Send `sig` to the instance's process group (tests and benchmarks: SIGSTOP, SIGKILL)."""
        with self._lock:
            child = self._children.get(name)
        if child is None:
            raise KeyError(f"no process for instance {name!r}")
        self._signal_group(child, sig)
        return child.proc.pid

    def exited(self) -> list[str]:
        """Instances whose process has ended and was not yet reported."""
        out = []
        with self._lock:
            for name, child in self._children.items():
                if not child.reported and child.proc.poll() is not None:
                    child.reported = True
                    out.append(name)
        return out

    def _terminate(self, children: list[_Child], timeout_s: float) -> None:
        for child in children:
            if child.proc.poll() is None:
                self._signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for child in children:
            self._reap(child, max(0.0, deadline - time.monotonic()), escalate=True)

    def _reap(self, child: _Child, timeout_s: float, escalate: bool = False) -> None:
        try:
            child.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            if escalate:
                _log.warning("%s did not exit within %.1f s; killing it", child.spec.name, timeout_s)
            self._signal_group(child, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(5.0)
        # Helpers left in the group (none expected) must not outlive the instance.
        self._signal_group(child, signal.SIGKILL)
        child.log.close()

    def stop_all(self, timeout_s: float = 5.0) -> None:
        """Stop every instance (SIGTERM, then SIGKILL after `timeout_s`); bounded in time."""
        with self._lock:
            children = list(self._children.values())
            self._children.clear()
            reapers, self._reapers = self._reapers, []
        self._terminate(children, timeout_s)
        for reaper in reapers:
            reaper.join(timeout_s)

    def __enter__(self) -> ProcessSupervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
