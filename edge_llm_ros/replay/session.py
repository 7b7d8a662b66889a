"""One replay of a bag through a freshly built pipeline: what `edge-llm-ros replay` and tests run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_llm_ros.cli.pipeline import build_pipeline, scene_config_path
from edge_llm_ros.replay.driver import ReplayDriver, ReplayResult
from edge_llm_ros.transport.inproc import InprocBus


@dataclass
class ReplayOptions:
    """What to replay and how."""

    bag: Path
    scene: str = "traffic"
    config: Path | None = None
    rate: float | None = None
    max_frames: int | None = None
    model_store: str | None = None
    person_detector: bool = True
    llm: bool = False
    #: "inproc" (one process, the embedded default) or "zenoh" (each node its own process).
    transport: str = "inproc"
    #: Serve Prometheus /metrics on 127.0.0.1:PORT during an inproc replay (0 = any free port).
    metrics_port: int | None = None
    #: Where node processes keep their params files and logs (zenoh; default: a temp dir).
    run_dir: Path | None = None
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass
class ReplayOutcome:
    """The driver's result plus what the nodes counted."""

    result: ReplayResult
    batch_sizes: dict[int, int]
    counters: dict[str, dict[str, Any]]
    node_names: list[str]


def node_overrides(options: ReplayOptions) -> dict[str, dict[str, Any]]:
    """Parameter overrides implied by the options (model store, pacing, detector, LLM)."""
    overrides: dict[str, dict[str, Any]] = {k: dict(v) for k, v in options.overrides.items()}

    def put(node: str, name: str, value: Any) -> None:
        overrides.setdefault(node, {}).setdefault(name, value)

    if options.model_store:
        for node in ("vision_inference", "roi_preprocess", "llm_inference"):
            put(node, "model_store", options.model_store)
    if options.rate is None:
        # Closed loop waits for every frame, so wall-clock deadlines would only make the run
        # depend on machine load; paced runs keep them, as on a vehicle.
        put("vision_inference", "deadline_s", 0.0)
        put("decision", "detection_timeout_s", 0.0)
    if not options.person_detector:
        put("roi_preprocess", "person_detector.enabled", False)
    if options.llm:
        put("decision", "llm.enabled", True)
    return overrides


def run_replay(options: ReplayOptions, progress: Callable[[int], None] | None = None) -> ReplayOutcome:
    """Build the scene's pipeline, bring it up, replay, shut down (inproc or one process per node)."""
    if options.transport == "zenoh":
        return _run_replay_processes(options, progress)
    if options.transport != "inproc":
        raise ValueError(f"transport must be inproc or zenoh, got {options.transport!r}")
    config = scene_config_path(options.scene, options.config)
    bus = InprocBus()
    try:
        from edge_llm_ros.runtime.params import load_params_file, params_for_node

        names = list(params_for_node(load_params_file(config), "lifecycle_manager").get("node_names") or [])
        if options.llm and "llm_inference" not in names:
            names.append("llm_inference")
        pipeline = build_pipeline(bus, config, node_overrides(options), node_names=names or None)
        exporter = None
        try:
            pipeline.bring_up()
            if options.metrics_port is not None:
                from edge_llm_ros.nodes.telemetry_exporter import TelemetryExporter

                exporter = TelemetryExporter(pipeline.context, pipeline.nodes, port=options.metrics_port)
                print(f"metrics: http://127.0.0.1:{exporter.start()}/metrics")
            driver = ReplayDriver(
                pipeline, options.bag, rate=options.rate, max_frames=options.max_frames, progress=progress
            )
            result = driver.run()
            llm = pipeline.nodes.get("llm_inference")
            if llm is not None and hasattr(llm, "advisor"):
                llm.advisor.wait_idle(60.0)
                pipeline.context.executor.spin_until_idle()
            vision = pipeline.nodes.get("vision_inference")
            batches = vision.batch_histogram() if vision is not None and hasattr(vision, "batch_histogram") else {}
            if exporter is not None:
                exporter.poll()
            return ReplayOutcome(result, batches, pipeline.counters(), list(pipeline.nodes))
        finally:
            if exporter is not None:
                exporter.close()
            pipeline.shutdown()
    finally:
        bus.close()


def _run_replay_processes(options: ReplayOptions, progress: Callable[[int], None] | None) -> ReplayOutcome:
    """Every node in its own process on zenoh (loopback), started by the lifecycle manager."""
    from edge_llm_ros.cli.run import RunOptions, RunSession

    config = scene_config_path(options.scene, options.config)
    run_options = RunOptions(
        config=config, transport="zenoh", node_params=node_overrides(options), run_dir=options.run_dir
    )
    with RunSession(run_options) as session:  # __enter__ starts it
        driver = ReplayDriver(
            None,
            options.bag,
            rate=options.rate,
            max_frames=options.max_frames,
            progress=progress,
            frame_timeout_s=10.0,
            context=session.node.context,
        )
        result = driver.run()
        # Per-node counters live in the node processes (scrape /metrics or /diagnostics there).
        return ReplayOutcome(result, {}, {}, sorted(session.status().get("instances", {})))
