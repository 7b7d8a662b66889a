"""`edge-llm-ros bag synth|info`: generate sample drives and summarise bags."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edge_llm_ros.bags import BagError, Storage, bag_info, format_bag_info
from edge_llm_ros.scenes import scene_names


def register(subparsers: Any) -> None:
    """Add the `bag` command (with `synth` and `info`) to the CLI's subparsers."""
    bag = subparsers.add_parser("bag", help="generate sample drives and inspect rosbag2 bags")
    verbs = bag.add_subparsers(dest="bag_command", metavar="{synth,info}")
    verbs.required = True

    synth = verbs.add_parser(
        "synth",
        help="write a deterministic sample drive (traffic) or conveyor run (industrial) as a rosbag2",
        description="Generate a scene from real photos and simulated sensors, with ground truth on "
        "/ground_truth/scene, and write it with rosbags (opens in `ros2 bag info` / `ros2 bag play`).",
    )
    synth.add_argument("--scene", choices=scene_names(), default="traffic")
    synth.add_argument("--duration", type=_positive_float, default=20.0, metavar="S", help="seconds (default 20)")
    synth.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    synth.add_argument("--out", required=True, metavar="DIR", help="bag directory to create (must not exist)")
    synth.add_argument("--storage", choices=[s.value for s in Storage], default=Storage.MCAP.value)
    synth.add_argument("--faults", action="store_true", help="also write deliberately bad messages")
    synth.add_argument("--compress", action="store_true", help="zstd-compress the storage")
    synth.add_argument("--no-progress", action="store_true", help="no progress bar")
    synth.set_defaults(func=_synth)

    info = verbs.add_parser("info", help="print topics, types, counts and rates of a bag")
    info.add_argument("bag", metavar="BAG", help="bag directory (or .mcap / .db3 file)")
    info.set_defaults(func=_info)


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _synth(args: argparse.Namespace) -> int:
    # Imported here so `edge-llm-ros --help` stays fast: the generator pulls in skimage and OpenCV.
    from tqdm import tqdm

    from edge_llm_ros.scenes import synthesize

    frames = max(1, round(args.duration * 10))
    with tqdm(total=frames, unit="frame", desc=f"{args.scene} bag", disable=args.no_progress) as bar:
        try:
            result = synthesize(
                args.out,
                scene=args.scene,
                duration_s=args.duration,
                seed=args.seed,
                storage=args.storage,
                faults=args.faults,
                compress=args.compress,
                progress=bar.update,
            )
        except BagError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    size = sum(p.stat().st_size for p in result.path.iterdir() if p.is_file())
    print(
        f"wrote {result.path}: {result.scene}, {result.frames} frames, {result.messages} messages, "
        f"{size / 1e6:.1f} MB in {result.seconds:.1f} s"
        + (f", {len(result.faults)} injected faults" if result.faults else "")
    )
    return 0


def _info(args: argparse.Namespace) -> int:
    try:
        print(format_bag_info(bag_info(args.bag)))
    except BagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
