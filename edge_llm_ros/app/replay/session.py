"""One replay of a bag through a freshly built pipeline: what `edge-llm-ros replay` and tests run."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_llm_ros.app.pipeline import build_pipeline, scene_config_path
from edge_llm_ros.app.replay.driver import ReplayDriver, ReplayResult
from edge_llm_ros.transport.bus import Capability
from edge_llm_ros.transport.factory import capabilities, create_bus


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
    #: Keep a black box (edge_llm_ros.ops.blackbox.BlackBoxConfig) of the inproc pipeline's traffic.
    blackbox: Any = None


@dataclass
class ReplayOutcome:
    """The driver's result plus what the nodes counted."""

    result: ReplayResult
    batch_sizes: dict[int, int]
    counters: dict[str, dict[str, Any]]
    node_names: list[str]
    #: Black-box dumps written during the replay.
    blackbox_dumps: list[Path] = field(default_factory=list)


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
    if Capability.MULTI_PROCESS in capabilities(options.transport):
        return _run_replay_processes(options, progress)
    config = scene_config_path(options.scene, options.config)
    bus = create_bus(options.transport)
    try:
        from edge_llm_ros.runtime.params import load_params_file, params_for_node

        names = [n for n in params_for_node(load_params_file(config), "lifecycle_manager").get("node_names") or []]
        # The LLM never runs in the pipeline's process (see replay/llm_sidecar.py).
        names = [n for n in names if n != "llm_inference"]
        overrides = node_overrides(options)
        pipeline = build_pipeline(bus, config, overrides, node_names=names or None)
        exporter = None
        sidecar = None
        recorder = None
        try:
            pipeline.bring_up()
            if options.blackbox is not None:
                from edge_llm_ros.ops.blackbox.recorder import BlackBoxRecorder, bag_input_topics

                recorder = BlackBoxRecorder(bus, options.blackbox, bag_input_topics(options.bag))
            if options.llm:
                from edge_llm_ros.app.replay.llm_sidecar import LlmSidecar
                from edge_llm_ros.config_files import find_config

                log = (options.run_dir or Path(tempfile.gettempdir())) / "llm_inference.log"
                sidecar = LlmSidecar(
                    bus, config, find_config("qos.yaml"), overrides.get("llm_inference", {}), log
                ).start()
            driver = ReplayDriver(
                pipeline, options.bag, rate=options.rate, max_frames=options.max_frames, progress=progress
            )
            if options.metrics_port is not None:
                from edge_llm_ros.nodes.telemetry_exporter import TelemetryExporter

                exporter = TelemetryExporter(
                    pipeline.context,
                    pipeline.nodes,
                    port=options.metrics_port,
                    frame_origin_ns=driver.result.injected_ns.get,
                )
                print(f"metrics: http://127.0.0.1:{exporter.start()}/metrics", flush=True)
            result = driver.run()
            if sidecar is not None:
                _await_advisories(result, pipeline.counters().get("decision", {}).get("llm_requests", 0))
            vision = pipeline.nodes.get("vision_inference")
            batcher = vision.batching() if vision is not None else None
            batches = dict(batcher.batch_sizes) if batcher is not None else {}
            if exporter is not None:
                exporter.poll()
            dumps: list[Path] = []
            if recorder is not None:
                recorder.close()
                dumps = list(recorder.dumps)
            return ReplayOutcome(result, batches, pipeline.counters(), list(pipeline.nodes), dumps)
        finally:
            if recorder is not None:
                recorder.close()
            if sidecar is not None:
                sidecar.close()
            if exporter is not None:
                exporter.close()
            pipeline.shutdown()
    finally:
        bus.close()


def _await_advisories(result: ReplayResult, requests: int, timeout_s: float = 60.0) -> None:
    """Give the LLM time to answer (or time out) the last requests; bounded."""
    import time

    deadline = time.monotonic() + timeout_s
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline and len(result.advisories) < requests:
        if len(result.advisories) != last:
            last, quiet_since = len(result.advisories), time.monotonic()
        elif time.monotonic() - quiet_since > 8.0:  # nothing for longer than any deadline: done
            return
        time.sleep(0.1)


def _run_replay_processes(options: ReplayOptions, progress: Callable[[int], None] | None) -> ReplayOutcome:
    """Every node in its own process on zenoh (loopback), started by the lifecycle manager."""
    from edge_llm_ros.app.run_session import RunOptions, RunSession

    config = scene_config_path(options.scene, options.config)
    run_options = RunOptions(
        config=config, transport=options.transport, node_params=node_overrides(options), run_dir=options.run_dir
    )
    with RunSession(run_options) as session:  # __enter__ starts it
        recorder = None
        if options.blackbox is not None:
            from edge_llm_ros.ops.blackbox.recorder import BlackBoxRecorder, bag_input_topics

            # This process sees every topic over zenoh, so one ring here covers all node processes.
            recorder = BlackBoxRecorder(session.bus, options.blackbox, bag_input_topics(options.bag))
            recorder.watch_manager(lambda: session.manager.counters)
        try:
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
        finally:
            if recorder is not None:
                recorder.close()
        # Per-node counters live in the node processes (scrape /metrics or /diagnostics there).
        dumps = list(recorder.dumps) if recorder is not None else []
        return ReplayOutcome(result, {}, {}, sorted(session.status().get("instances", {})), dumps)
