"""Prometheus metrics for pipeline nodes, process resources, and the /metrics HTTP endpoint.

One `PipelineMetrics` per process owns its own CollectorRegistry (never the global default, so
two pipelines or two tests in one interpreter do not collide); every node in the process takes a
`NodeMetrics` view that fills the `node` label. Latencies are exported in seconds, the Prometheus
base unit. Exported families (namespace ``edge_llm``):

- ``edge_llm_stage_latency_seconds`` histogram {node, stage}: per stage and transport hop
- ``edge_llm_e2e_latency_seconds`` histogram {node}: sensor stamp to decision publish
- ``edge_llm_stage_latency_window_seconds`` / ``edge_llm_e2e_latency_window_seconds`` summary
  {node, stage, quantile}: exact p50/p95/p99 over the most recent samples (a LatencyBook window)
- ``edge_llm_queue_depth`` gauge {node, queue}
- ``edge_llm_batch_size`` histogram {node}
- ``edge_llm_dropped_total`` counter {node, reason}: deadline, bad_input, overflow, stale, ...
- ``edge_llm_rejected_inputs_total`` counter {node, topic, reason}
- ``edge_llm_process_resident_memory_bytes``, ``edge_llm_process_cpu_percent`` gauges {node}
- ``edge_llm_temperature_celsius`` gauge {node, sensor}: only where the OS exposes a sensor
- ``edge_llm_network_sent_bytes_total``, ``edge_llm_network_received_bytes_total`` {node}: host-wide
"""

from __future__ import annotations

import ipaddress
import re
import socket
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from edge_llm_ros._compat import StrEnum
from edge_llm_ros.telemetry.latency_stats import E2E, QUANTILES, LatencyBook
from edge_llm_ros.telemetry.stamps import FrameTiming

NAMESPACE = "edge_llm"

# 0.5 ms .. 500 ms: fine steps around the per-stage budgets (2-3 ms) and the 40-100 ms batch/e2e
# budgets, so p99 against budget can be read off the buckets directly.
LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.04,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
)
BATCH_SIZE_BUCKETS: tuple[float, ...] = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)

DEFAULT_SUMMARY_WINDOW = 4096
SYS_THERMAL = Path("/sys/class/thermal")

# Label values come from code and config, but an unbounded label is a memory leak in a scraper:
# keep them short identifiers (topics and hop names may carry slashes, colons and dots).
_LABEL_RE = re.compile(r"^[A-Za-z0-9_:/.\-]{1,128}$")


class DropReason(StrEnum):
    """Why a frame or request was dropped; other short identifiers are accepted too."""

    DEADLINE = "deadline"
    BAD_INPUT = "bad_input"
    OVERFLOW = "overflow"
    STALE = "stale"
    OUT_OF_ORDER = "out_of_order"
    SHUTDOWN = "shutdown"


def _label(value: str, what: str) -> str:
    text = str(value)
    if not _LABEL_RE.match(text):
        raise ValueError(f"{what} label {value!r} must match {_LABEL_RE.pattern}")
    return text


class NodeMetrics:
    """The metrics of one node: a view over the process's families with `node` filled in."""

    def __init__(self, parent: PipelineMetrics, node: str) -> None:
        self._parent = parent
        self.node = _label(node, "node")
        self.latency = LatencyBook(window=parent.summary_window)
        """Recent latencies in ms, exported as the *_window_seconds summaries."""

    def observe_stage(self, stage: str, seconds: float) -> None:
        """One stage duration in seconds."""
        stage = _label(stage, "stage")
        self._parent.stage_latency.labels(self.node, stage).observe(seconds)
        self.latency.add(stage, seconds * 1e3)

    def observe_e2e(self, seconds: float) -> None:
        """One sensor-to-decision latency in seconds."""
        self._parent.e2e_latency.labels(self.node).observe(seconds)
        self.latency.add(E2E, seconds * 1e3)

    def observe_frame(self, timing: FrameTiming, stages: Iterable[str] | None = None) -> None:
        """Observe a frame's stage durations (only `stages` if given) and e2e if published.

        A node usually passes the stages it ran itself, so that a frame whose timing travelled
        through several nodes is not counted once per node.
        """
        wanted = None if stages is None else set(stages)
        for stage, ns in timing.stage_durations_ns().items():
            if wanted is None or stage in wanted:
                self.observe_stage(stage, ns / 1e9)
        if timing.published_ns is not None and (wanted is None or E2E in wanted):
            self.observe_e2e(timing.e2e_ns() / 1e9)

    def set_queue_depth(self, queue: str, depth: int) -> None:
        """Current depth of a named queue (batcher, subscription buffer, ...)."""
        self._parent.queue_depth.labels(self.node, _label(queue, "queue")).set(depth)

    def observe_batch(self, size: int) -> None:
        """The size of one batch sent to an engine."""
        self._parent.batch_size.labels(self.node).observe(size)

    def drop(self, reason: str, count: int = 1) -> None:
        """Count `count` dropped frames or requests for `reason` (see DropReason)."""
        self._parent.dropped.labels(self.node, _label(reason, "reason")).inc(count)

    def reject(self, topic: str, reason: str, count: int = 1) -> None:
        """Count rejected input on `topic` (bad encoding, NaN, truncated CDR, ...)."""
        self._parent.rejected.labels(self.node, _label(topic, "topic"), _label(reason, "reason")).inc(count)


class _WindowSummaryCollector:
    """Exports every node's LatencyBook as Prometheus summaries with exact quantiles."""

    def __init__(self, parent: PipelineMetrics) -> None:
        self._parent = parent
        self._stage_name = f"{parent.namespace}_stage_latency_window_seconds"
        self._e2e_name = f"{parent.namespace}_e2e_latency_window_seconds"

    def describe(self) -> list[Metric]:
        return [
            Metric(self._stage_name, "Recent per-stage latency quantiles (sliding window)", "summary"),
            Metric(self._e2e_name, "Recent sensor-to-decision latency quantiles (sliding window)", "summary"),
        ]

    def collect(self) -> Iterator[Metric]:
        stage_family, e2e_family = self.describe()
        for node in self._parent.nodes():
            book = node.latency
            for name in [*book.stages(), E2E]:
                stats = book.series(name)
                if stats.count == 0:
                    continue
                family = e2e_family if name == E2E else stage_family
                labels = {"node": node.node} if name == E2E else {"node": node.node, "stage": name}
                for q, value_ms in zip(QUANTILES, stats.quantiles(QUANTILES), strict=True):
                    family.add_sample(family.name, {**labels, "quantile": str(q)}, value_ms / 1e3)
                family.add_sample(f"{family.name}_count", labels, stats.count)
                family.add_sample(f"{family.name}_sum", labels, stats.total / 1e3)
        yield stage_family
        yield e2e_family


def read_temperatures(thermal_root: Path = SYS_THERMAL, use_psutil: bool = True) -> dict[str, float]:
    """Temperatures in °C by sensor name; empty where the OS exposes none (containers, macOS, VMs).

    psutil's hwmon view comes first (names like ``coretemp/Package id 0``); Linux thermal zones
    (``/sys/class/thermal/thermal_zone*/temp``, millidegrees; Jetson and Raspberry Pi expose
    their CPU here) fill in when psutil finds nothing.
    """
    found: dict[str, float] = {}
    sensors = getattr(psutil, "sensors_temperatures", None) if use_psutil else None
    if sensors is not None:
        try:
            for chip, entries in sensors().items():
                for i, entry in enumerate(entries):
                    found[f"{chip}/{entry.label or i}"] = float(entry.current)
        except (OSError, RuntimeError, ValueError):
            found = {}
    if found:
        return found
    try:
        zones = sorted(thermal_root.glob("thermal_zone*"))
    except OSError:
        return found
    for zone in zones:
        try:
            kind = (zone / "type").read_text(encoding="utf-8").strip() or zone.name
            found[f"{zone.name}/{kind}"] = int((zone / "temp").read_text(encoding="utf-8").strip()) / 1000.0
        except (OSError, ValueError):
            continue  # a zone without a readable sensor (disabled, permission) is skipped, not fatal
    return found


class ProcessCollector:
    """Process and host resources, read at scrape time: RSS, CPU %, temperatures, network bytes.

    Each reading is independent: one that fails (no permission, no sensor) is left out of the
    scrape instead of failing it. CPU % is of one core since the previous scrape (may exceed 100
    on a multi-core box), like `top`.
    """

    def __init__(
        self,
        node: str,
        *,
        namespace: str = NAMESPACE,
        process: psutil.Process | None = None,
        temperature_source: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        self.node = _label(node, "node")
        self._ns = namespace
        self._process = process or psutil.Process()
        self._temperatures = temperature_source or read_temperatures
        self._lock = threading.Lock()
        self._process.cpu_percent(None)  # prime: psutil's first reading is always 0.0

    def _families(
        self,
    ) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, CounterMetricFamily, CounterMetricFamily]:
        ns = self._ns
        return (
            GaugeMetricFamily(f"{ns}_process_resident_memory_bytes", "Resident set size", labels=["node"]),
            GaugeMetricFamily(f"{ns}_process_cpu_percent", "CPU % of one core since last scrape", labels=["node"]),
            GaugeMetricFamily(f"{ns}_temperature_celsius", "Temperature by sensor", labels=["node", "sensor"]),
            CounterMetricFamily(f"{ns}_network_sent_bytes", "Host network bytes sent", labels=["node"]),
            CounterMetricFamily(f"{ns}_network_received_bytes", "Host network bytes received", labels=["node"]),
        )

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        rss, cpu, temp, sent, recv = self._families()
        node = [self.node]
        with self._lock:  # cpu_percent keeps state between calls; two scrapes must not interleave
            try:
                rss.add_metric(node, float(self._process.memory_info().rss))
                yield rss
            except (psutil.Error, OSError):
                pass
            try:
                cpu.add_metric(node, float(self._process.cpu_percent(None)))
                yield cpu
            except (psutil.Error, OSError):
                pass
        try:
            readings = self._temperatures()
        except Exception:  # any sensor backend failure means "not exposed", never a failed scrape
            readings = {}
        if readings:
            for sensor, celsius in sorted(readings.items()):
                temp.add_metric([self.node, sensor], celsius)
            yield temp
        try:
            io = psutil.net_io_counters()
        except (psutil.Error, OSError):
            io = None
        if io is not None:
            sent.add_metric(node, float(io.bytes_sent))
            recv.add_metric(node, float(io.bytes_recv))
            yield sent
            yield recv


class PipelineMetrics:
    """All metric families of one process, on a registry of its own."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        namespace: str = NAMESPACE,
        summary_window: int = DEFAULT_SUMMARY_WINDOW,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.namespace = namespace
        self.summary_window = summary_window
        self._nodes: dict[str, NodeMetrics] = {}
        self._lock = threading.Lock()
        reg = self.registry
        self.stage_latency = Histogram(
            "stage_latency_seconds",
            "Per-stage latency (compute stages and transport hops)",
            ["node", "stage"],
            namespace=namespace,
            registry=reg,
            buckets=LATENCY_BUCKETS_S,
        )
        self.e2e_latency = Histogram(
            "e2e_latency_seconds",
            "Sensor stamp to decision publish latency",
            ["node"],
            namespace=namespace,
            registry=reg,
            buckets=LATENCY_BUCKETS_S,
        )
        self.queue_depth = Gauge(
            "queue_depth", "Items waiting in a queue", ["node", "queue"], namespace=namespace, registry=reg
        )
        self.batch_size = Histogram(
            "batch_size",
            "Requests per engine batch",
            ["node"],
            namespace=namespace,
            registry=reg,
            buckets=BATCH_SIZE_BUCKETS,
        )
        self.dropped = Counter(
            "dropped", "Frames or requests dropped, by reason", ["node", "reason"], namespace=namespace, registry=reg
        )
        self.rejected = Counter(
            "rejected_inputs",
            "Inputs rejected as invalid, by topic and reason",
            ["node", "topic", "reason"],
            namespace=namespace,
            registry=reg,
        )
        reg.register(_WindowSummaryCollector(self))

    def node(self, name: str) -> NodeMetrics:
        """The metrics view for node `name` (created once, then shared)."""
        with self._lock:
            view = self._nodes.get(name)
            if view is None:
                view = self._nodes[name] = NodeMetrics(self, name)
            return view

    def nodes(self) -> list[NodeMetrics]:
        """Every node view created so far."""
        with self._lock:
            return list(self._nodes.values())

    def add_process_collector(self, node: str, **kwargs: Any) -> ProcessCollector:
        """Register process/host resource metrics labelled `node` (once per process)."""
        collector = ProcessCollector(node, namespace=self.namespace, **kwargs)
        self.registry.register(collector)
        return collector


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a stuck scraper must not keep the process alive


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood stderr."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MetricsServer:
    """Serves a registry at ``http://HOST:PORT/metrics``; loopback only unless `allow_remote`.

    Port 0 picks a free port; `start()` returns the bound one. Binding a non-loopback address
    (``0.0.0.0``, a LAN IP, a hostname) must be asked for with ``allow_remote=True``, so a config
    typo cannot expose the endpoint.
    """

    def __init__(
        self, registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0, *, allow_remote: bool = False
    ) -> None:
        if not host:
            raise ValueError("metrics host must be an explicit address (an empty host binds every interface)")
        if not 0 <= port <= 65535:
            raise ValueError(f"metrics port {port} out of range 0..65535")
        if not allow_remote and not _is_loopback(host):
            raise ValueError(f"metrics host {host!r} is not loopback; pass allow_remote=True to expose it")
        self._registry = registry
        self._host = "127.0.0.1" if host == "localhost" else host
        self._port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """The address bound (or to be bound)."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port once started, else the configured one."""
        return self._port

    @property
    def url(self) -> str:
        """The scrape URL."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}/metrics"

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    def _app(self) -> Callable[..., Iterable[bytes]]:
        metrics_app = make_wsgi_app(self._registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO", "/") not in ("/metrics", "/"):
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"not found: scrape /metrics\n"]
            return metrics_app(environ, start_response)

        return app

    def start(self) -> int:
        """Bind and serve in a daemon thread; returns the bound port."""
        if self._server is not None:
            return self._port
        server_cls = type(
            "_Server",
            (_ThreadingServer,),
            {"address_family": socket.AF_INET6 if ":" in self._host else socket.AF_INET},
        )
        server: WSGIServer = make_server(self._host, self._port, self._app(), server_cls, handler_class=_QuietHandler)
        self._server = server
        self._port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"metrics:{self._port}", daemon=True
        )
        self._thread.start()
        return self._port

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving and release the port; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> MetricsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
