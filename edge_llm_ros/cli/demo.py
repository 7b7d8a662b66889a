"""`edge-llm-ros demo`: the main job on the embedded default, from nothing to a report.

Builds the sample models (once; kept in the model store), writes a fresh sample drive, replays
it through the whole pipeline in one process, and prints the latency and accuracy report.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from tqdm import tqdm

from edge_llm_ros.scenes import get_scene, scene_names


def register(subparsers: Any) -> None:
    """Add the `demo` subcommand."""
    p = subparsers.add_parser("demo", help="prepare models, synthesize a drive, replay it and print the report")
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output directory (drive + report)")
    p.add_argument("--scene", default="traffic", choices=scene_names())
    p.add_argument("--duration", type=float, default=20.0, help="seconds of sample drive")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-store", help="model store directory (default: $EDGE_LLM_ROS_MODEL_STORE or ~/.cache)")
    p.add_argument("--llm", action="store_true", help="also run the LLM advisory node (prepares SmolLM2 first)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute the demo."""
    from edge_llm_ros.app.prepare import prepare_models
    from edge_llm_ros.app.replay.report import write_replay_report
    from edge_llm_ros.app.replay.session import ReplayOptions, run_replay
    from edge_llm_ros.models.store import ModelStore
    from edge_llm_ros.scenes import synthesize

    store = ModelStore(args.model_store) if args.model_store else ModelStore()
    names = list(get_scene(args.scene).models)
    if args.llm:
        names.append("smollm2")
    print(f"[1/3] models ({', '.join(names)}) in {store.root}")
    prepare_models(store, names, log=lambda msg: print(f"      {msg}"))

    drive = args.out / f"{args.scene}_drive"
    if drive.exists():
        shutil.rmtree(drive)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"[2/3] sample drive: {args.duration:g} s of {args.scene}, seed {args.seed} -> {drive}")
    with tqdm(total=int(args.duration * 10), unit="frame", leave=False) as bar:
        synthesize(drive, scene=args.scene, duration_s=args.duration, seed=args.seed, progress=bar.update)

    print("[3/3] replay through the pipeline (inproc, closed loop)")
    options = ReplayOptions(bag=drive, scene=args.scene, model_store=str(store.root), llm=args.llm)
    with tqdm(unit="frame", leave=False) as bar:
        outcome = run_replay(options, progress=bar.update)
    report_dir = args.out / "report"
    paths, _report, table = write_replay_report(
        outcome.result,
        report_dir,
        scene=args.scene,
        batch_sizes=outcome.batch_sizes,
        counters=outcome.counters,
        metadata={"bag": str(drive), "scene": args.scene, "transport": "inproc", "pacing": "as fast as possible"},
    )
    print(table)
    print(f"report: {paths.json}\nplot:   {paths.png}\ndecisions bag: {report_dir / 'decisions'}")
    return 0
