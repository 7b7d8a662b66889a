"""Prometheus view of the lifecycle manager: failovers, swaps, rollbacks, respawns, roles.

Read at scrape time from the manager's `status()` (a callable, so this module does not depend on
the manager). Families (namespace ``edge_llm``):

- ``edge_llm_manager_events_total`` counter {event}: failover, rollback, swap, respawn
- ``edge_llm_manager_instance_respawns_total`` counter {node, instance}: restarts of one instance
- ``edge_llm_manager_instances`` gauge {node, role}: instances per role (active, standby, failed, ...)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from edge_llm_ros.telemetry.metrics import NAMESPACE

#: manager counter key -> event label (the counter keys are plural).
EVENTS = {"failovers": "failover", "rollbacks": "rollback", "swaps": "swap", "respawns": "respawn"}


class ManagerCollector:
    """Collector over a manager status callable (``LifecycleManager.status``)."""

    def __init__(self, status: Callable[[], Mapping[str, Any]], *, namespace: str = NAMESPACE) -> None:
        self._status = status
        self._ns = namespace

    def _families(self) -> tuple[CounterMetricFamily, CounterMetricFamily, GaugeMetricFamily]:
        ns = self._ns
        return (
            CounterMetricFamily(f"{ns}_manager_events", "Lifecycle manager events", labels=["event"]),
            CounterMetricFamily(
                f"{ns}_manager_instance_respawns", "Respawns of one node instance", labels=["node", "instance"]
            ),
            GaugeMetricFamily(f"{ns}_manager_instances", "Managed instances per role", labels=["node", "role"]),
        )

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        events, respawns, roles = self._families()
        try:
            status = self._status()
        except Exception:  # a manager mid-shutdown must not fail the whole scrape
            return
        counters = status.get("counters", {})
        for key, event in EVENTS.items():
            events.add_metric([event], float(counters.get(key, 0)))
        yield events
        per_role: Counter[tuple[str, str]] = Counter()
        for group in status.get("nodes", []):
            kind = str(group.get("node", ""))
            for inst in group.get("instances", []):
                respawns.add_metric([kind, str(inst.get("name", ""))], float(inst.get("respawns", 0)))
                per_role[(kind, str(inst.get("role", "unknown")))] += 1
        for (kind, role), count in sorted(per_role.items()):
            roles.add_metric([kind, role], float(count))
        yield respawns
        yield roles
