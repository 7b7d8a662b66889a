"""`edge-llm-ros bench reliability`: the fuzz campaign of issue 15, as one JSON table.

Replays a traffic drive clean, then fuzzed with successive seeds (closed loop, inproc) until
at least --inputs samples (valid + malformed) went in, and writes report_dir/reliability.json.
Exit status 1 when a crash, an undecided or changed valid frame, or an unaccounted sample shows.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any


def bench_reliability(args: argparse.Namespace) -> int:
    """Run the fuzz campaign; print the summary; write the table."""
    from edge_llm_ros.app.replay.fuzz import FuzzConfig, fuzz_campaign, load_or_make_drive
    from edge_llm_ros.app.replay.session import ReplayOptions

    report = Path(args.report)
    report.mkdir(parents=True, exist_ok=True)
    bag = Path(args.bag) if args.bag else load_or_make_drive(report / "drive", args.bag_duration)
    options = ReplayOptions(bag=bag, model_store=args.model_store, person_detector=args.person_detector)
    # Valid sensor samples per drive second: 10 images + 10 camera_info + 20 radar + 10 GPS.
    per_round = args.bag_duration * 50 * (1 + args.per_sample)
    rounds = args.rounds or max(1, math.ceil(args.inputs / per_round))
    table: dict[str, Any] = {"part": "fuzz", "per_sample": args.per_sample, "rounds": rounds}
    table.update(fuzz_campaign(options, FuzzConfig(seed=args.seed, per_sample=args.per_sample), rounds=rounds))
    out = report / "reliability.json"
    out.write_text(json.dumps(table, indent=2) + "\n")
    summary = {k: table[k] for k in ("inputs_tried", "malformed_sent", "crashes", "hangs", "decisions_identical",
                                     "unaccounted")}
    print(json.dumps(summary))
    print(f"wrote {out}")
    ok = table["crashes"] == 0 and table["hangs"] == 0 and table["decisions_identical"] and not table["unaccounted"]
    return 0 if ok else 1


def add_reliability_bench(verbs: Any) -> None:
    """Add `reliability` (alias `fuzz`) under an existing `bench` command's subparsers."""
    p = verbs.add_parser("reliability", aliases=["fuzz"], help="fuzz every input topic; decisions must not change")
    p.add_argument("--report", required=True, help="directory for reliability.json (and the drive)")
    p.add_argument("--bag", help="drive to replay (default: synthesise a traffic drive into the report dir)")
    p.add_argument("--bag-duration", type=float, default=10.0, help="seconds of drive to synthesise")
    p.add_argument("--inputs", type=int, default=100_000, help="at least this many inputs in all")
    p.add_argument("--per-sample", type=float, default=20.0, help="malformed samples per valid one (mean)")
    p.add_argument("--rounds", type=int, default=0, help="fuzzed replays (0 = enough for --inputs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-store", help="model store (default: the user's store)")
    p.add_argument("--person-detector", action="store_true", help="keep the ROI person detector on")
    p.set_defaults(func=bench_reliability)
