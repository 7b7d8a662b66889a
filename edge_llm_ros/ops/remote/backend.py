"""What the ops service can do on this device, and a log ring for its `Logs` call.

`OpsBackend` is the seam between the gRPC layer and the running pipeline; `RunBackend` implements
it over an `edge-llm-ros run` session (manager, supervisor, exporter, black box).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, generate_latest

LIFECYCLE_ACTIONS = ("start", "stop", "reset")


class NotPossibleError(RuntimeError):
    """The call is well-formed but the device cannot do it now (no black box, empty window)."""


class OpsBackend(Protocol):
    """Operations on one device; each raises ValueError for a bad argument."""

    def status(self) -> dict[str, Any]:
        """Roles, states and models of every instance, recent events and counters."""
        ...

    def logs(self, lines: int, min_level: str) -> list[str]:
        """The newest `lines` log lines at `min_level` or above, oldest first."""
        ...

    def diagnostics(self) -> list[dict[str, Any]]:
        """One status per managed instance: level (OK/WARN/ERROR), message, values."""
        ...

    def metrics(self) -> str:
        """The Prometheus text exposition of this process's metrics."""
        ...

    def lifecycle(self, action: str) -> str:
        """Start, stop or reset every managed node."""
        ...

    def swap(self, node: str, model: str) -> dict[str, Any]:
        """Hot-swap node kind `node` to model `model` (NAME[@VERSION]); the swap result."""
        ...

    def blackbox_dump(self) -> str:
        """Write the black box's window now; the bag's path (NotPossibleError without one)."""
        ...


class LogRing(logging.Handler):
    """Keeps the last `capacity` formatted records in memory (bounded, thread-safe)."""

    def __init__(self, capacity: int = 2000, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.records: collections.deque[tuple[int, str]] = collections.deque(maxlen=capacity)
        self._ring_lock = threading.Lock()
        self.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a bad format string in some log call must not break logging
            line = f"{record.name} {record.levelname} {record.msg!r}"
        with self._ring_lock:
            self.records.append((record.levelno, line))

    def tail(self, lines: int, min_level: str = "INFO") -> list[str]:
        """The newest `lines` lines at `min_level` or above."""
        level = logging.getLevelName(min_level.upper())
        if not isinstance(level, int):
            raise ValueError(f"unknown log level {min_level!r}")
        with self._ring_lock:
            selected = [line for levelno, line in self.records if levelno >= level]
        return selected[-max(0, lines) :] if lines else []


def _instance_diagnostics(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for group in status.get("nodes", []):
        for inst in group.get("instances", []):
            role = inst.get("role")
            level = "OK" if role in ("active", "standby") else ("ERROR" if role == "failed" else "WARN")
            out.append(
                {
                    "name": f"{group.get('node')}: {inst.get('name')}",
                    "level": level,
                    "message": f"{role} ({inst.get('state')})",
                    "values": {k: v for k, v in inst.items() if k != "name"},
                }
            )
    return out


class RunBackend:
    """`OpsBackend` over a started RunSession (edge_llm_ros.cli.run)."""

    def __init__(
        self,
        session: Any,
        log_ring: LogRing,
        *,
        registry: CollectorRegistry | None = None,
        recorder: Any = None,
        swap_timeout_s: float = 120.0,
    ) -> None:
        self.session = session
        self.log_ring = log_ring
        self.recorder = recorder
        self.swap_timeout_s = swap_timeout_s
        if registry is None:
            from edge_llm_ros.telemetry.manager_metrics import ManagerCollector
            from edge_llm_ros.telemetry.metrics import ProcessCollector

            registry = CollectorRegistry()
            registry.register(ManagerCollector(session.manager.status))
            registry.register(ProcessCollector("lifecycle_manager"))
        self.registry = registry

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.session.status()
        return status

    def logs(self, lines: int, min_level: str) -> list[str]:
        return self.log_ring.tail(lines, min_level)

    def diagnostics(self) -> list[dict[str, Any]]:
        return _instance_diagnostics(self.session.status())

    def metrics(self) -> str:
        return generate_latest(self.registry).decode()

    def lifecycle(self, action: str) -> str:
        if action not in LIFECYCLE_ACTIONS:
            raise ValueError(f"lifecycle action must be one of {LIFECYCLE_ACTIONS}, got {action!r}")
        getattr(self.session.manager, action)()
        return f"{action}: done"

    def swap(self, node: str, model: str) -> dict[str, Any]:
        if not node or not model:
            raise ValueError("swap needs a node kind and a model id (NAME[@VERSION])")
        result: dict[str, Any] = self.session.manager.swap(node, model).to_dict()
        return result

    def blackbox_dump(self) -> str:
        if self.recorder is None:
            raise NotPossibleError("this device runs without a black box (start it with --blackbox DIR)")
        path = self.recorder.dump("operator")
        if path is None:
            raise NotPossibleError("the black box window is empty")
        return str(path)
