"""`edge-llm-ros replay BAG`: run the whole pipeline on a recorded drive and report."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `replay` subcommand."""
    p = subparsers.add_parser("replay", help="replay a rosbag2 drive through the pipeline and write a report")
    p.add_argument("bag", type=Path, help="rosbag2 directory (mcap or sqlite3)")
    p.add_argument("--scene", default="traffic", choices=("traffic",), help="scene config to run")
    p.add_argument("--config", help="scene YAML (default: the shipped config/<scene>.yaml)")
    p.add_argument("--report", type=Path, default=Path("replay_report"), help="output directory")
    pacing = p.add_mutually_exclusive_group()
    pacing.add_argument("--rate", type=float, help="pace by the bag's stamps at this rate (1.0 = real time)")
    pacing.add_argument("--as-fast-as-possible", action="store_true", help="closed loop (default)")
    p.add_argument("--transport", default="inproc", choices=("inproc",), help="bus for the embedded run")
    p.add_argument("--model-store", help="model store directory")
    p.add_argument("--max-frames", type=int, help="stop after this many camera frames")
    p.add_argument("--no-person-detector", action="store_true", help="ROIs from radar only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute the replay."""
    from edge_llm_ros.cli.pipeline import PipelineError, build_pipeline, scene_config_path
    from edge_llm_ros.replay.driver import ReplayDriver
    from edge_llm_ros.replay.report import write_replay_report
    from edge_llm_ros.runtime.params import ParameterError
    from edge_llm_ros.transport.inproc import InprocBus

    overrides: dict[str, dict[str, object]] = {}
    if args.model_store:
        overrides = {
            "vision_inference": {"model_store": args.model_store},
            "roi_preprocess": {"model_store": args.model_store},
        }
    if args.no_person_detector:
        overrides.setdefault("roi_preprocess", {})["person_detector.enabled"] = False
    bus = InprocBus()
    try:
        pipeline = build_pipeline(bus, scene_config_path(args.scene, args.config), overrides)
        pipeline.bring_up()
        frames = None
        with tqdm(desc="replay", unit="frame", total=args.max_frames, leave=False) as bar:
            driver = ReplayDriver(pipeline, args.bag, rate=args.rate, max_frames=args.max_frames, progress=bar.update)
            result = driver.run()
            frames = result.frames_published
        vision = pipeline.nodes.get("vision_inference")
        batches = vision.batch_histogram() if vision is not None and hasattr(vision, "batch_histogram") else {}
        paths, _report, table = write_replay_report(
            result,
            args.report,
            scene=args.scene,
            batch_sizes=batches,
            counters=pipeline.counters(),
            metadata={
                "bag": str(args.bag),
                "scene": args.scene,
                "transport": args.transport,
                "pacing": f"rate {args.rate}" if args.rate else "as fast as possible",
            },
        )
        pipeline.shutdown()
    except (PipelineError, ParameterError, FileNotFoundError) as exc:
        print(f"error: {exc}")
        return 2
    finally:
        bus.close()
    print(table)
    print(f"{frames} frames -> {len(result.decisions)} decisions; report: {paths.json}, plot: {paths.png}")
    return 0
