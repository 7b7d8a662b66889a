"""`edge-llm-ros replay BAG`: run the whole pipeline on a recorded drive and report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tqdm import tqdm

from edge_llm_ros.scenes import scene_names


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `replay` subcommand."""
    p = subparsers.add_parser("replay", help="replay a rosbag2 drive through the pipeline and write a report")
    p.add_argument("bag", type=Path, help="rosbag2 directory (mcap or sqlite3)")
    p.add_argument("--scene", default="traffic", choices=scene_names(), help="scene config to run")
    p.add_argument("--config", help="scene YAML (default: the shipped config/<scene>.yaml)")
    p.add_argument("--report", type=Path, default=Path("replay_report"), help="output directory")
    pacing = p.add_mutually_exclusive_group()
    pacing.add_argument("--rate", type=float, help="pace by the bag's stamps at this rate (1.0 = real time)")
    pacing.add_argument("--as-fast-as-possible", action="store_true", help="closed loop (default)")
    p.add_argument(
        "--transport",
        default="inproc",
        choices=("inproc", "zenoh"),
        help="inproc: every node in this process (default); zenoh: each node its own process on loopback",
    )
    p.add_argument("--model-store", help="model store directory")
    p.add_argument("--max-frames", type=int, help="stop after this many camera frames")
    p.add_argument("--no-person-detector", action="store_true", help="ROIs from radar only")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics on 127.0.0.1 during the replay")
    p.add_argument("--llm", action="store_true", help="also run the LLM advisory node (off the safety path)")
    p.add_argument(
        "-p",
        dest="node_params",
        action="append",
        default=[],
        metavar="NODE.NAME:=VALUE",
        help="a node parameter (YAML value), e.g. -p llm_inference.model_dir:=/path; repeatable",
    )
    p.add_argument("--blackbox", type=Path, metavar="DIR", help="keep a black box; dumps go to DIR")
    p.add_argument("--blackbox-window", type=float, default=10.0, metavar="S", help="black-box window (seconds)")
    p.add_argument("--blackbox-max-mb", type=float, default=256.0, metavar="MB", help="black-box size bound")
    p.set_defaults(func=run)


def parse_node_params(items: list[str]) -> dict[str, dict[str, object]]:
    """`NODE.NAME:=VALUE` items as {node: {name: value}}; values are parsed as YAML scalars."""
    import yaml

    out: dict[str, dict[str, object]] = {}
    for item in items:
        key, sep, value = item.partition(":=")
        node, dot, name = key.partition(".")
        if not sep or not dot or not node or not name:
            raise ValueError(f"-p {item!r}: expected NODE.NAME:=VALUE")
        out.setdefault(node, {})[name] = yaml.safe_load(value)
    return out


def blackbox_config(args: argparse.Namespace) -> Any:
    """The black-box settings of `--blackbox DIR ...` (None without it)."""
    if getattr(args, "blackbox", None) is None:
        return None
    from edge_llm_ros.ops.blackbox.recorder import BlackBoxConfig

    return BlackBoxConfig(
        out_dir=args.blackbox, window_s=args.blackbox_window, max_bytes=int(args.blackbox_max_mb * 1024 * 1024)
    )


def run(args: argparse.Namespace) -> int:
    """Execute the replay."""
    from edge_llm_ros.app.pipeline import PipelineError
    from edge_llm_ros.app.replay.report import write_replay_report
    from edge_llm_ros.app.replay.session import ReplayOptions, run_replay
    from edge_llm_ros.runtime.params import ParameterError

    try:
        overrides = parse_node_params(args.node_params)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    options = ReplayOptions(
        bag=args.bag,
        scene=args.scene,
        config=Path(args.config) if args.config else None,
        rate=args.rate,
        max_frames=args.max_frames,
        model_store=args.model_store,
        person_detector=not args.no_person_detector,
        llm=args.llm,
        transport=args.transport,
        metrics_port=args.metrics_port,
        overrides=overrides,
        blackbox=blackbox_config(args),
    )
    try:
        with tqdm(desc="replay", unit="frame", total=args.max_frames, leave=False) as bar:
            outcome = run_replay(options, progress=bar.update)
    except (PipelineError, ParameterError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}")
        return 2
    paths, _report, table = write_replay_report(
        outcome.result,
        args.report,
        scene=args.scene,
        batch_sizes=outcome.batch_sizes,
        counters=outcome.counters,
        metadata={
            "bag": str(args.bag),
            "scene": args.scene,
            "transport": args.transport,
            "pacing": f"rate {args.rate}" if args.rate else "as fast as possible",
            "nodes": outcome.node_names,
        },
    )
    print(table)
    result = outcome.result
    print(f"{result.frames_published} frames -> {len(result.decisions)} decisions")
    print(f"report: {paths.json}  plot: {paths.png}  decisions bag: {args.report / 'decisions'}")
    for dump in outcome.blackbox_dumps:
        print(f"black box: {dump}")
    return 0
