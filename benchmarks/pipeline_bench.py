"""Pipeline benchmarks for issue 3, in one run so the ratios compare like with like.

1. Sensor-to-decision latency on a sample traffic drive (inproc, closed loop): e2e p50/p95/p99
   and the pipeline overhead, e2e minus model compute (person detector + classifier run that
   served the frame), p50/p99.
2. Dynamic batching vs batch-1 for the ROI classifier at 8 ROIs per frame: frames offered in a
   closed loop with a fixed number in flight; throughput (frames/s) and frame latency p99 for
   max_batch=8 and max_batch=1.

Usage: python benchmarks/pipeline_bench.py --store DIR [--bag DIR | --duration 20] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from skimage import data

from edge_llm_ros.app.replay.session import ReplayOptions, run_replay
from edge_llm_ros.inference.batcher import BatcherConfig, DynamicBatcher
from edge_llm_ros.inference.classifier import load_classifier
from edge_llm_ros.scenes import synthesize
from edge_llm_ros.telemetry.latency_stats import percentiles


def latency_run(bag: Path, store: str) -> dict[str, Any]:
    outcome = run_replay(ReplayOptions(bag=bag, model_store=store))
    result = outcome.result
    e2e, overhead, compute = [], [], []
    for d in result.decisions:
        injected = result.injected_ns.get(d.stamp_ns)
        if injected is None:
            continue
        total = (d.decided_ns - injected) / 1e6
        model = sum((d.timing[k][1] - d.timing[k][0]) / 1e6 for k in ("roi.detector", "vision.model") if k in d.timing)
        e2e.append(total)
        compute.append(model)
        overhead.append(total - model)
    return {
        "frames": len(e2e),
        "e2e_ms": percentiles(e2e, (50, 95, 99)),
        "model_compute_ms": percentiles(compute),
        "overhead_ms": percentiles(overhead),
        "batch_sizes": outcome.batch_sizes,
    }


def batching_run(store: str, max_batch: int, frames: int, in_flight: int, rois: int = 8) -> dict[str, Any]:
    classifier = load_classifier("roi_classifier", store=store)
    buffer = classifier.allocate(max_batch)
    image = data.astronaut()
    boxes = [(x, y, x + 96, y + 160) for x in (0, 100, 200, 300) for y in (0, 200)][:rois]

    def run(crops: Any) -> list[Any]:
        for slot, box in enumerate(crops):
            classifier.fill(buffer, slot, image[box[1] : box[3], box[0] : box[2]])
        return classifier.classify(buffer[: len(crops)])

    batcher: DynamicBatcher[Any, Any] = DynamicBatcher(
        BatcherConfig(max_batch=max_batch, max_queue_delay_s=0.002, deadline_s=0.0, max_queue=1024), run
    )
    slots = threading.Semaphore(in_flight)
    latencies: list[float] = []
    lock = threading.Lock()

    def submit_frame() -> None:
        slots.acquire()
        start = time.perf_counter()
        left = [rois]

        def done(_result: Any) -> None:
            with lock:
                left[0] -= 1
                if left[0] == 0:
                    latencies.append((time.perf_counter() - start) * 1e3)
                    slots.release()

        for box in boxes:
            batcher.submit(box, done)

    for _ in range(3):  # warm-up frames
        submit_frame()
    batcher.wait_idle(30)
    latencies.clear()
    began = time.perf_counter()
    for _ in range(frames):
        submit_frame()
    batcher.wait_idle(120)
    wall = time.perf_counter() - began
    sizes = dict(batcher.batch_sizes)
    batcher.close()
    return {
        "max_batch": max_batch,
        "frames": frames,
        "in_flight": in_flight,
        "frames_per_s": round(frames / wall, 2),
        "frame_latency_ms": percentiles(latencies),
        "batch_sizes": sizes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True, help="model store with roi_classifier and person_detector")
    parser.add_argument("--bag", type=Path, help="a traffic drive (default: synthesize one)")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--frames", type=int, default=60, help="frames per batching run")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bag = args.bag
        if bag is None:
            bag = Path(tmp) / "drive"
            synthesize(bag, scene="traffic", duration_s=args.duration, seed=0)
        report: dict[str, Any] = {"latency": latency_run(bag, args.store)}
    dynamic = batching_run(args.store, 8, args.frames, in_flight=2)
    single = batching_run(args.store, 1, args.frames, in_flight=2)
    report["batching"] = {
        "dynamic": dynamic,
        "batch_1": single,
        "throughput_ratio": round(dynamic["frames_per_s"] / single["frames_per_s"], 2),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
