"""Fuzz replay: a drive with malformed samples interleaved, through the real inproc pipeline.

The valid drive is replayed twice in the closed loop (deterministic): once clean, once with
`per_sample` malformed variants (edge_llm_ros.app.replay.mutations) published next to every valid
sensor sample. The fuzzed run must decide every valid frame exactly as the clean run did,
decide nothing else, and count every malformed sample as rejected, by topic and reason.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_llm_ros.app.pipeline import build_pipeline, scene_config_path
from edge_llm_ros.app.replay.driver import ReplayDriver, ReplayResult
from edge_llm_ros.app.replay.mutations import Mutator
from edge_llm_ros.app.replay.session import ReplayOptions, node_overrides
from edge_llm_ros.msgs.codec import MessageCodec
from edge_llm_ros.telemetry.rejections import rejections_by_topic
from edge_llm_ros.transport.bus import Publisher
from edge_llm_ros.transport.inproc import InprocBus


@dataclass
class FuzzConfig:
    """How much garbage, from which seed."""

    seed: int = 0
    #: Mean number of malformed variants per valid sensor sample.
    per_sample: float = 4.0
    #: Share of variants that are structured (re-encoded valid CDR) rather than raw bytes.
    structured_share: float = 0.5
    #: Publish each sample's variants in one burst, without letting the pipeline run in between.
    burst: bool = False


@dataclass
class FuzzRun:
    """One replay's decisions and counters, and what was injected."""

    result: ReplayResult
    counters: dict[str, dict[str, int]]
    sent: Counter[tuple[str, str]] = field(default_factory=Counter)  # (topic, kind) -> malformed sent
    valid_sent: Counter[str] = field(default_factory=Counter)  # topic -> valid samples
    crashes: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    #: With observe=True: the exporter's Prometheus text and the /diagnostics statuses (name -> values).
    prometheus: str = ""
    diagnostics: dict[str, dict[str, str]] = field(default_factory=dict)


    def counters_by_node(self, node: str) -> dict[tuple[str, str], int]:
        """One node's rejections by (topic, reason)."""
        from edge_llm_ros.telemetry.rejections import parse_rejection

        out: dict[tuple[str, str], int] = {}
        for key, value in self.counters.get(node, {}).items():
            if (parsed := parse_rejection(key)) is not None and value:
                out[parsed] = out.get(parsed, 0) + int(value)
        return out


class _FuzzingPublisher:
    """Stands in for the driver's publisher of one topic: the valid sample plus its variants."""

    def __init__(
        self,
        run: FuzzRun,
        topic: str,
        typename: str,
        real: Publisher,
        other: Publisher,
        mutator: Mutator,
        pace: Callable[[], object] | None,
    ) -> None:
        self.run, self.topic, self.typename = run, topic, typename
        self.real, self.other, self.mutator, self.pace = real, other, mutator, pace

    def publish_raw(self, data: bytes) -> None:
        mutations = self.mutator.mutate(self.typename, bytes(data))
        # The first sample of a topic fixes its frame id, source and intrinsics (InputGate): the
        # garbage starts once it has been seen, as it would after any startup.
        first = self.run.valid_sent[self.topic] == 0
        for m in mutations:
            if m.before and not first:
                self._send(m.kind, m.data, m.other_source)
        self.real.publish_raw(data)
        self.run.valid_sent[self.topic] += 1
        for m in mutations:
            if first or not m.before:
                self._send(m.kind, m.data, m.other_source)

    def _send(self, kind: str, data: bytes, other_source: bool) -> None:
        (self.other if other_source else self.real).publish_raw(data)
        self.run.sent[(self.topic, kind)] += 1
        if self.pace is not None:
            # The closed loop lets the pipeline take each sample as it comes, as a node that keeps
            # up with its input would. A burst larger than the sensor queue (keep-last 5) would
            # push valid samples out before any check ran: that is overload, measured apart.
            self.pace()


class FuzzDriver(ReplayDriver):
    """ReplayDriver whose sensor publishers interleave malformed variants with the valid samples."""

    def __init__(self, *args: Any, run: FuzzRun, mutator: Mutator | None, burst: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._run, self._mutator = run, mutator
        self._pace: Callable[[], object] | None = None if burst else self.context.executor.spin_until_idle
        self._fuzzer = self.context.bus.create_node("fuzzer")
        self._wrapped: dict[str, Any] = {}

    def _publisher(self, topic: str, typename: str) -> Publisher:
        real = super()._publisher(topic, typename)
        if self._mutator is None:
            return real
        if topic not in self._wrapped:
            other = self._fuzzer.create_publisher(topic, typename, self._input_qos())
            self._wrapped[topic] = _FuzzingPublisher(
                self._run, topic, typename, real, other, self._mutator, self._pace
            )
        wrapped: Publisher = self._wrapped[topic]
        return wrapped

    def _input_qos(self) -> Any:
        from edge_llm_ros.app.replay.driver import CLOSED_LOOP_INPUT
        from edge_llm_ros.transport.qos import SENSOR_DATA

        return SENSOR_DATA if self.rate is not None else CLOSED_LOOP_INPUT


def replay_with_fuzz(
    options: ReplayOptions, fuzz: FuzzConfig | None, codec: MessageCodec | None = None, *, observe: bool = False
) -> FuzzRun:
    """Replay `options.bag` closed-loop inproc, with malformed variants when `fuzz` is given.

    `observe` also runs the telemetry exporter and keeps what it tells an operator at the end.
    """
    if options.transport != "inproc" or options.rate is not None:
        raise ValueError("the fuzz replay runs closed loop on the inproc transport")
    config = scene_config_path(options.scene, options.config)
    bus = InprocBus()
    run = FuzzRun(ReplayResult(), {})
    started = time.monotonic()
    try:
        from edge_llm_ros.runtime.params import load_params_file, params_for_node

        names = list(params_for_node(load_params_file(config), "lifecycle_manager").get("node_names") or [])
        names = [n for n in names if n != "llm_inference"]
        pipeline = build_pipeline(bus, config, node_overrides(options), node_names=names or None)
        try:
            pipeline.bring_up()
            mutator = None
            if fuzz is not None:
                mutator = Mutator(codec or bus.codec, fuzz.seed, fuzz.per_sample, fuzz.structured_share)
            driver = FuzzDriver(
                pipeline,
                options.bag,
                max_frames=options.max_frames,
                run=run,
                mutator=mutator,
                burst=fuzz is not None and fuzz.burst,
            )
            try:
                run.result = driver.run()
            except Exception as exc:  # the figure this harness exists for: a crash is counted, not hidden
                run.crashes.append(f"{type(exc).__name__}: {exc}")
            run.counters = pipeline.counters()
            if observe:
                _observe(pipeline, run)
            for name, node in pipeline.nodes.items():
                if node.last_error:
                    run.crashes.append(f"{name}: {node.last_error}")
        finally:
            pipeline.shutdown()
    finally:
        bus.close()
        run.wall_s = time.monotonic() - started
    return run


def _observe(pipeline: Any, run: FuzzRun) -> None:
    """One exporter poll: Prometheus families and the /diagnostics array, as a subscriber sees it."""
    from prometheus_client import generate_latest

    from edge_llm_ros.nodes import topics
    from edge_llm_ros.nodes.telemetry_exporter import TelemetryExporter
    from edge_llm_ros.transport.bus import Sample

    context = pipeline.context
    listener = context.bus.create_node("diagnostics_listener")
    sub = listener.create_subscription(
        topics.DIAGNOSTICS_TOPIC, topics.DIAGNOSTICS, context.qos.profile("pipeline"), on_ready=context.executor.notify
    )

    def on_diag(sample: Sample) -> None:
        array = context.bus.codec.deserialize(sample.data, topics.DIAGNOSTICS)
        for status in array.status:
            run.diagnostics[str(status.name)] = {str(kv.key): str(kv.value) for kv in status.values}

    context.executor.add_subscription(sub, on_diag, lambda: True)
    exporter = TelemetryExporter(context, pipeline.nodes, diagnostics_period_s=0.0)
    try:
        exporter.poll()
        context.executor.spin_until_idle()
        run.prometheus = generate_latest(exporter.metrics.registry).decode()
    finally:
        exporter.close()


@dataclass
class FuzzComparison:
    """Fuzzed run against the clean one."""

    valid_frames: int
    decided: int
    identical: int
    differing: list[int]
    undecided: list[int]
    extra_decisions: int
    malformed_sent: int
    rejected: dict[tuple[str, str], int]
    unaccounted: dict[str, int]

    @property
    def ok(self) -> bool:
        return not (self.differing or self.undecided or self.extra_decisions or self.unaccounted)

    def table(self) -> dict[str, Any]:
        """JSON-ready figures."""
        by_topic: dict[str, dict[str, int]] = {}
        for (topic, reason), n in sorted(self.rejected.items()):
            by_topic.setdefault(topic, {})[reason] = n
        return {
            "valid_frames": self.valid_frames,
            "decided": self.decided,
            "identical_to_clean": self.identical,
            "differing": len(self.differing),
            "differing_stamps": self.differing[:20],
            "undecided": len(self.undecided),
            "extra_decisions": self.extra_decisions,
            "malformed_sent": self.malformed_sent,
            "rejected_total": sum(self.rejected.values()),
            "rejected_by_topic": by_topic,
            "unaccounted_by_topic": self.unaccounted,
        }


def compare(clean: FuzzRun, fuzzed: FuzzRun) -> FuzzComparison:
    """Decisions on the valid frames, and the accounting of every malformed sample."""
    before = {d.stamp_ns: d.decision_key() for d in clean.result.decisions}
    after: dict[int, str] = {}
    extra = 0
    for d in fuzzed.result.decisions:
        if d.stamp_ns in after or d.stamp_ns not in clean.result.injected_ns:
            extra += 1  # a second decision for an instant, or one for a frame that was never valid
        after[d.stamp_ns] = d.decision_key()
    frames = sorted(clean.result.injected_ns)
    undecided = [s for s in frames if s not in after]
    differing = [s for s in frames if s in after and after[s] != before.get(s)]
    rejected = rejections_by_topic(fuzzed.counters)
    per_topic_rejected: Counter[str] = Counter()
    for (topic, _reason), n in rejected.items():
        per_topic_rejected[topic] += n
    per_topic_sent: Counter[str] = Counter()
    for (topic, _kind), n in fuzzed.sent.items():
        per_topic_sent[topic] += n
    unaccounted = {
        t: per_topic_sent[t] - per_topic_rejected[t]
        for t in sorted(per_topic_sent)
        if per_topic_sent[t] != per_topic_rejected[t]
    }
    return FuzzComparison(
        valid_frames=len(frames),
        decided=len(frames) - len(undecided),
        identical=len(frames) - len(undecided) - len(differing),
        differing=differing,
        undecided=undecided,
        extra_decisions=extra,
        malformed_sent=sum(fuzzed.sent.values()),
        rejected=rejected,
        unaccounted=unaccounted,
    )


def fuzz_campaign(options: ReplayOptions, fuzz: FuzzConfig, rounds: int = 1) -> dict[str, Any]:
    """Clean run once, then `rounds` fuzzed runs with successive seeds; one JSON table."""
    clean = replay_with_fuzz(options, None)
    runs = []
    kinds: Counter[str] = Counter()
    for i in range(rounds):
        seeded = FuzzConfig(fuzz.seed + i, fuzz.per_sample, fuzz.structured_share, fuzz.burst)
        fuzzed = replay_with_fuzz(options, seeded)
        comparison = compare(clean, fuzzed)
        for (_topic, kind), n in fuzzed.sent.items():
            kinds[kind] += n
        runs.append({
            "seed": fuzz.seed + i,
            "crashes": fuzzed.crashes,
            "wall_s": round(fuzzed.wall_s, 1),
            "valid_sent": sum(fuzzed.valid_sent.values()),
            **comparison.table(),
        })
    total_rejected: Counter[str] = Counter()
    for r in runs:
        for topic, reasons in r["rejected_by_topic"].items():
            for reason, n in reasons.items():
                total_rejected[f"{topic} {reason}"] += n
    return {
        "bag": str(options.bag),
        "clean_frames": len(clean.result.injected_ns),
        "clean_crashes": clean.crashes,
        "inputs_tried": sum(r["malformed_sent"] + r["valid_sent"] for r in runs),
        "malformed_sent": sum(r["malformed_sent"] for r in runs),
        "crashes": sum(len(r["crashes"]) for r in runs),
        "hangs": sum(r["undecided"] for r in runs),
        "decisions_identical": all(r["differing"] == 0 and r["undecided"] == 0 and r["extra_decisions"] == 0
                                   for r in runs),
        "unaccounted": sum(sum(r["unaccounted_by_topic"].values()) for r in runs),
        "sent_by_kind": dict(sorted(kinds.items())),
        "rejected_by_topic_reason": dict(sorted(total_rejected.items())),
        "runs": runs,
    }


def load_or_make_drive(path: Path, duration_s: float, seed: int = 3) -> Path:
    """A synthesized traffic drive at `path` (made once)."""
    if not (path / "metadata.yaml").exists():
        from edge_llm_ros.scenes import synthesize

        synthesize(path, scene="traffic", duration_s=duration_s, seed=seed)
    return path
