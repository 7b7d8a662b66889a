"""Per-process telemetry: a Prometheus endpoint and /diagnostics for the nodes a process hosts.

Thin glue between the runtime and edge_llm_ros.telemetry: stage spans come from
/edge_llm/stage_timing, end-to-end latency from each decision's own record, drops and
rejections from the nodes' counters, queue depths and batch sizes from their batchers, and the
process collector adds RSS, CPU %, temperature (where the OS exposes one) and network bytes.
The endpoint binds 127.0.0.1 unless an operator explicitly allows another address.
"""

from __future__ import annotations

import json
import logging
import socket
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from edge_llm_ros.decision.record import DecisionDecodeError, DecisionRecord
from edge_llm_ros.nodes import topics
from edge_llm_ros.runtime.context import NodeContext
from edge_llm_ros.runtime.executor import TimerHandle
from edge_llm_ros.runtime.lifecycle import State
from edge_llm_ros.runtime.managed_node import ManagedNode
from edge_llm_ros.telemetry.diagnostics import CounterStatus, DiagnosticUpdater, Level, StatusReport, serialize
from edge_llm_ros.telemetry.metrics import MetricsServer, PipelineMetrics
from edge_llm_ros.telemetry.outcome_metrics import OutcomeMetrics
from edge_llm_ros.telemetry.rejections import parse_rejection
from edge_llm_ros.transport.bus import BusNode, MessageInfo, Subscription, TransportError

_log = logging.getLogger(__name__)


class TelemetryExporter:
    """Exports the metrics and diagnostics of `nodes` (all hosted by this process)."""

    def __init__(
        self,
        context: NodeContext,
        nodes: Mapping[str, ManagedNode],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_remote: bool = False,
        diagnostics_period_s: float = 1.0,
        clock: Callable[[], int] | None = None,
        bus_node: BusNode | None = None,
        frame_origin_ns: Callable[[int], int | None] | None = None,
    ) -> None:
        self.context = context
        self.nodes = dict(nodes)
        self.metrics = PipelineMetrics()
        self.outcomes = OutcomeMetrics(self.metrics.registry)
        # A replay knows when it injected each frame: e2e is measured from there (bag stamps are old).
        self._frame_origin_ns = frame_origin_ns
        self.server = MetricsServer(self.metrics.registry, host, port, allow_remote=allow_remote)
        self._seen: dict[str, Counter[str]] = {name: Counter() for name in self.nodes}
        self._batches_seen: dict[str, Counter[int]] = {name: Counter() for name in self.nodes}
        self._updaters = {name: self._updater(name, node) for name, node in self.nodes.items()}
        # Under rclpy the hosted node's own bus node: a second rclpy node per process would show
        # up in `ros2 node list` as a node nobody launched.
        self._own_bus_node = bus_node is None
        self._bus_node = bus_node if bus_node is not None else context.bus.create_node(f"telemetry_{context.bus.pid}")
        qos = context.qos.profile("pipeline")
        self._timing = self._bus_node.create_subscription(
            topics.TIMING_TOPIC, topics.STRING, qos, on_ready=context.executor.notify
        )
        context.executor.add_subscription(self._timing, self._on_timing, lambda: True)
        # Only a process hosting the decision node reads decisions: under rclpy every node
        # process has an exporter, and each would otherwise take every decision off the wire.
        self._decisions: Subscription | None = None
        self._advisories: Subscription | None = None
        if "decision" in self.nodes:
            self._decisions = self._bus_node.create_subscription(
                topics.DECISION_TOPIC, topics.STRING, context.qos.profile("decision"), on_ready=context.executor.notify
            )
            context.executor.add_subscription(self._decisions, self._on_decision, lambda: True)
            self._advisories = self._bus_node.create_subscription(
                topics.ADVISORY_TOPIC, topics.STRING, context.qos.profile("decision"), on_ready=context.executor.notify
            )
            context.executor.add_subscription(self._advisories, self._on_advisory, lambda: True)
        self._diag_pub = self._bus_node.create_publisher(
            topics.DIAGNOSTICS_TOPIC, topics.DIAGNOSTICS, context.qos.profile("diagnostics")
        )
        self._timer: TimerHandle = context.executor.create_timer(0.25, self.poll)
        self._clock = clock
        for name in self.nodes:
            self.metrics.add_process_collector(name)
            break  # one process collector per process: RSS/CPU/network are per process, not per node
        self._add_manager_collectors()

    def _add_manager_collectors(self) -> None:
        # Failovers, swaps, rollbacks and respawns wherever the manager runs (run, ros2 launch); read
        # lazily, because the manager exists only once its node is configured.
        from edge_llm_ros.nodes.lifecycle_manager import LifecycleManagerNode
        from edge_llm_ros.telemetry.manager_metrics import ManagerCollector

        for node in self.nodes.values():
            if isinstance(node, LifecycleManagerNode):
                self.metrics.registry.register(ManagerCollector(_manager_status(node)))

    def start(self) -> int:
        """Serve /metrics; returns the bound port."""
        return self.server.start()

    def _updater(self, name: str, node: ManagedNode) -> DiagnosticUpdater:
        updater = DiagnosticUpdater(name, hardware_id=socket.gethostname())

        def state() -> StatusReport:
            level = Level.OK if node.state is State.ACTIVE else Level.WARN
            if node.state is State.FINALIZED:
                level = Level.ERROR
            values = {"state": node.state.label, **{k: str(v) for k, v in sorted(node.counters.items())}}
            message = node.last_error or node.state.label
            return StatusReport.make(level, message, values)

        updater.add_function("lifecycle", state)

        def rejected() -> dict[str, int]:
            stats_fn = getattr(node, "stats", None)
            stats = stats_fn() if callable(stats_fn) else dict(node.counters)
            found = {key: parse_rejection(key) for key in stats}
            return {f"{p[0]} {p[1]}": int(stats[k]) for k, p in found.items() if p is not None}

        # Bad inputs by topic and reason, WARN while they keep arriving (issue 15).
        updater.add(CounterStatus("rejected_inputs", source=rejected))
        return updater

    # ------------------------------------------------------------------ inputs
    def _on_timing(self, sample: Any) -> None:
        try:
            record = json.loads(self.context.bus.codec.deserialize(sample.data, topics.STRING).data)
            stage = str(record["stage"])
            seconds = (int(record["end_ns"]) - int(record["start_ns"])) / 1e9
        except (ValueError, KeyError, TypeError):
            return
        owner = {"fusion": "sensor_fusion", "roi": "roi_preprocess", "vision": "vision_inference"}.get(stage, stage)
        if owner in self.nodes:
            self.metrics.node(owner).observe_stage(stage, seconds)

    def _on_decision(self, sample: Any) -> None:
        try:
            record = DecisionRecord.from_json(self.context.bus.codec.deserialize(sample.data, topics.STRING).data)
        except (DecisionDecodeError, ValueError):
            return
        metrics = self.metrics.node("decision")
        self.outcomes.observe_decision("decision", record.action)
        if "decision" in record.timing:
            start, end = record.timing["decision"]
            metrics.observe_stage("decision", (end - start) / 1e9)
        # Sensor-to-decision latency when sensor stamps are wall-clock (live); a replayed bag's
        # stamps are from the past, and replays report e2e from injection time instead.
        origin = self._frame_origin_ns(record.stamp_ns) if self._frame_origin_ns is not None else None
        age = (record.decided_ns - (record.stamp_ns if origin is None else origin)) / 1e9
        if 0 <= age < 10:
            metrics.observe_e2e(age)

    def _on_advisory(self, sample: Any) -> None:
        try:
            record = json.loads(self.context.bus.codec.deserialize(sample.data, topics.STRING).data)
        except ValueError:
            return
        if isinstance(record, dict):
            self.outcomes.observe_advisory("decision", record)

    # ------------------------------------------------------------------ periodic
    def poll(self) -> None:
        """Fold new counter increments, queue depths and batch sizes in; publish diagnostics."""
        for name, node in self.nodes.items():
            metrics = self.metrics.node(name)
            stats = node.stats()
            for key, value in stats.items():
                delta = value - self._seen[name][key] if isinstance(value, int) else 0
                if delta <= 0:
                    continue
                self._seen[name][key] = value
                kind = key.partition(":")[0]
                rejection = parse_rejection(key)
                if rejection is not None:
                    metrics.reject(_safe(rejection[0]), _safe(rejection[1]), delta)
                elif kind.startswith(("dropped", "missing", "decided_without")):
                    metrics.drop(_safe(key), delta)
            batcher = node.batching()
            if batcher is not None:
                metrics.set_queue_depth("batcher", batcher.pending())
                for size, count in list(batcher.batch_sizes.items()):
                    for _ in range(count - self._batches_seen[name][size]):
                        metrics.observe_batch(size)
                    self._batches_seen[name][size] = count
            updater = self._updaters[name]
            if updater.due():
                try:
                    self._diag_pub.publish_raw(serialize(updater.update(), self.context.bus.codec))
                except TransportError as exc:  # e.g. rclpy's context shut down by Ctrl-C
                    _log.warning("diagnostics of %s not published: %s", name, exc)
                except Exception:  # diagnostics must never take the process down
                    _log.exception("diagnostics of %s not published", name)

    def close(self) -> None:
        """Stop serving and leave the bus."""
        self._timer.cancel()
        self.context.executor.remove_subscription(self._timing)
        for sub in (self._decisions, self._advisories):
            if sub is not None:
                self.context.executor.remove_subscription(sub)
        self.server.stop()
        if self._own_bus_node:
            self._bus_node.close()
        else:
            for entity in (self._timing, self._decisions, self._advisories, self._diag_pub):
                if entity is not None:
                    entity.close()


def _manager_status(node: Any) -> Callable[[], dict[str, Any]]:
    def status() -> dict[str, Any]:
        result: dict[str, Any] = node.manager.status()  # AttributeError before configure: no samples
        return result

    return status


def _safe(label: str) -> str:
    """A Prometheus-safe label value."""
    cleaned = "".join(c if c.isalnum() or c in "_:/.-" else "_" for c in label)[:128]
    return cleaned or "unknown"


__all__ = ["MessageInfo", "TelemetryExporter"]
