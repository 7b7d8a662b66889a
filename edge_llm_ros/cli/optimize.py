"""`edge-llm-ros optimize quantize|prune|distill|fp16|check`, and `bench optimize`.

    edge-llm-ros optimize quantize roi_classifier@1.0.0-fp32 --data drive.bag
    edge-llm-ros optimize prune roi_classifier@1.0.0-fp32 --data drive.bag --ratio 0.3
    edge-llm-ros optimize distill roi_classifier@1.0.0-fp32 --data drives/ --epochs 12
    edge-llm-ros optimize fp16 roi_classifier@1.0.0-fp32 --data drive.bag [--tensorrt]
    edge-llm-ros optimize check roi_classifier@1.0.0-pruned30 --baseline roi_classifier@1.0.0-fp32 --data drive.bag
    edge-llm-ros bench optimize --report out/optimize

Every command reads crops of real drives (ground-truth boxes of rosbag2 bags, letterboxed like the
pipeline) split into training and held-out crops by object, writes a new model version with its
manifest into the store, and ends with the check of that version against its parent as a table.
`check` exits 0 when the candidate passes, 1 when it fails its gate, 2 when it is refused (sha256
mismatch, cannot be loaded) or the input is wrong; the other commands exit 0 once the version is
written (their table says whether it passes) and 2 on errors. `--chart PNG` draws size, accuracy
and latency of every version of the model. See docs/compression.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from edge_llm_ros.compression.crops import SPLITS, CropError, CropSpec


def _data_args(parser: argparse.ArgumentParser, *, model_help: str) -> None:
    parser.add_argument("model", metavar="MODEL", help=model_help)
    parser.add_argument("--data", nargs="+", required=True, metavar="BAG_OR_DIR",
                        help="rosbag2 bags with camera frames and /ground_truth/scene, or directories of bags")
    parser.add_argument("--store", metavar="DIR", help="model store (default: $EDGE_LLM_ROS_MODEL_STORE or "
                        "~/.cache/edge_llm_ros/models)")
    parser.add_argument("--heldout-fraction", type=_fraction, default=0.3, metavar="F",
                        help="share of crops held out for golden set and check (default 0.3; 1 = all)")
    parser.add_argument("--split-seed", type=int, default=0, metavar="N", help="seed of the train/held-out split")
    parser.add_argument("--split-by", choices=SPLITS, default="track",
                        help="keep whole objects (track) or whole bags (bag) on one side (default track)")
    parser.add_argument("--max-heldout-crops", type=_positive_int, metavar="N", help="cap the held-out crops")
    parser.add_argument("--margin", type=float, default=CropSpec.margin, help="ROI margin per side (default 0.1)")
    parser.add_argument("--min-size", type=float, default=CropSpec.min_size_px, metavar="PX",
                        help="skip crops smaller than this (default 12, as the ROI node)")
    parser.add_argument("--threads", type=_positive_int, default=1, help="onnxruntime intra-op threads for timing")
    parser.add_argument("--batches", type=_positive_int, nargs="+", default=[1, 8], metavar="B",
                        help="batch sizes to time (default 1 8)")
    parser.add_argument("--seconds", type=float, default=1.0, help="timing budget per model and batch size")
    parser.add_argument("--chart", type=Path, metavar="PNG", help="chart size/accuracy/latency of all versions")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _output_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", help="version of the new model (default: <parent number>-<method>)")
    parser.add_argument("--max-drop", type=_fraction, metavar="F",
                        help="gate threshold written into the new manifest (default: the parent's)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing version")


def _train_args(parser: argparse.ArgumentParser, defaults: Any) -> None:
    d = defaults
    parser.add_argument("--epochs", type=_positive_int, default=d.epochs, help=f"training epochs (default {d.epochs})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"AdamW learning rate (default {d.lr:g})")
    parser.add_argument("--batch-size", type=_positive_int, default=d.batch_size,
                        help=f"training batch (default {d.batch_size})")
    parser.add_argument("--temperature", type=float, default=d.temperature,
                        help=f"distillation temperature (default {d.temperature:g})")
    parser.add_argument("--alpha", type=_fraction, default=d.alpha,
                        help=f"weight of the KL term, the rest is the hard-label loss (default {d.alpha:g})")
    parser.add_argument("--hard-labels", choices=("teacher", "ground-truth"), default="teacher",
                        help="hard labels: the teacher's top-1 (default) or the bags' ground-truth class")
    parser.add_argument("--train-crops", type=_positive_int, metavar="N", help="cap the training crops")
    parser.add_argument("--train-threads", type=_positive_int, default=2, help="torch threads (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="training seed")


def register(subparsers: Any) -> None:
    """Add `optimize` with quantize, prune, distill, fp16 and check."""
    opt = subparsers.add_parser(
        "optimize", help="compress models (INT8, pruning, distillation, FP16/TensorRT) and gate them",
        description="Compress a model from the store on crops of real drives and check the result against "
        "its parent. See docs/compression.md.",
    )
    verbs = opt.add_subparsers(dest="optimize_command", metavar="{quantize,prune,distill,fp16,check}")
    verbs.required = True

    q = verbs.add_parser("quantize", help="INT8: static (CNNs, calibrated on drive crops) or dynamic (transformers)")
    _data_args(q, model_help="float parent, e.g. roi_classifier@1.0.0-fp32")
    _output_args(q)
    q.add_argument("--method", choices=("auto", "static", "dynamic"), default="auto",
                   help="auto: static for convolutional graphs, dynamic for MatMul-dominated/LLM graphs")
    q.add_argument("--calibration-crops", type=_positive_int, default=128, help="static calibration crops")
    q.add_argument("--seed", type=int, default=0, help="calibration sample seed")
    q.set_defaults(func=_quantize)

    p = verbs.add_parser("prune", help="structured channel pruning + distillation fine-tune, re-exported to ONNX")
    _data_args(p, model_help="parent with a torch source, e.g. roi_classifier@1.0.0-fp32")
    _output_args(p)
    p.add_argument("--ratio", type=_open_fraction, default=0.3, help="share of channels to remove (default 0.3)")
    p.add_argument("--round-to", type=_positive_int, default=8, help="keep channel counts multiples of this (8)")
    p.add_argument("--keep-narrow", type=int, default=40, metavar="C",
                   help="do not prune channel groups of dense convs with <= C outputs (default 40)")
    p.add_argument("--photo-crops", type=int, default=384, metavar="N",
                   help="random crops of the bundled photos added to the distillation data (default 384; 0: none)")
    _train_args(p, _defaults("prune"))
    p.set_defaults(func=_prune)

    d = verbs.add_parser("distill", help="train a small student over our classes from a teacher in the store")
    _data_args(d, model_help="teacher, e.g. roi_classifier@1.0.0-fp32")
    _output_args(d)
    d.add_argument("--size", type=_positive_int, default=112, help="student input size (default 112)")
    d.add_argument("--width", type=float, default=1.0, help="student width multiplier (default 1.0)")
    _train_args(d, _defaults("distill"))
    d.set_defaults(func=_distill)

    f = verbs.add_parser("fp16", help="FP16 ONNX; TensorRT engine (cached) where a GPU is present")
    _data_args(f, model_help="float parent, e.g. roi_classifier@1.0.0-fp32")
    _output_args(f)
    f.add_argument("--tensorrt", action="store_true", help="also build a TensorRT engine via onnxruntime's TRT EP")
    f.add_argument("--torch2trt", action="store_true", help="also convert the torch network with torch2trt")
    f.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp16", help="TensorRT precision")
    f.add_argument("--trt-cache", type=Path, metavar="DIR", help="engine cache root (default <store>/.trt_cache)")
    f.set_defaults(func=_fp16)

    c = verbs.add_parser("check", help="gate a candidate against a baseline on held-out crops (exit 1 on a drop)")
    _data_args(c, model_help="candidate, e.g. roi_classifier@1.0.0-pruned30")
    c.add_argument("--baseline", required=True, metavar="MODEL", help="e.g. roi_classifier@1.0.0-fp32")
    c.set_defaults(func=_check)


def add_optimize_bench(verbs: Any) -> None:
    """Add `optimize` under an existing `bench` command's subparsers."""
    b = verbs.add_parser("optimize", help="every compression of the sample classifier on held-out drive crops")
    b.add_argument("--report", type=Path, required=True, metavar="DIR", help="output directory (JSON, PNG, bags)")
    b.add_argument("--store", metavar="DIR", help="model store holding roi_classifier@1.0.0-fp32 (prepared if missing)")
    b.add_argument("--train-bags", nargs="+", type=Path, default=[], metavar="BAG", help="training drives")
    b.add_argument("--heldout-bags", nargs="+", type=Path, default=[], metavar="BAG", help="held-out drives")
    b.add_argument("--train-duration", type=float, default=20.0, metavar="S", help="seconds per synthesised drive")
    b.add_argument("--prune-epochs", type=_positive_int, default=4, help="fine-tune epochs after pruning")
    b.add_argument("--distill-epochs", type=_positive_int, default=10, help="student epochs")
    b.add_argument("--seconds", type=float, default=2.0, help="timing budget per model and batch size")
    b.add_argument("--threads", type=_positive_int, default=1, help="onnxruntime intra-op threads")
    b.add_argument("--quick", action="store_true", help="smoke-test sizes (short drives, little training)")
    b.add_argument("--no-progress", action="store_true", help="no progress bars")
    b.set_defaults(func=_bench)


# ----------------------------------------------------------------------------------------- helpers
def _defaults(command: str) -> Any:
    """The training defaults of a command (compression.settings imports no torch, so --help stays fast)."""
    from edge_llm_ros.compression.settings import DEFAULT_DISTILL_TRAIN, DEFAULT_PRUNE_TRAIN

    return DEFAULT_PRUNE_TRAIN if command == "prune" else DEFAULT_DISTILL_TRAIN


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {text}")
    return value


def _open_fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be within (0, 1), got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _session(args: argparse.Namespace) -> Any:
    from edge_llm_ros.compression.progress import tqdm_factory
    from edge_llm_ros.compression.workflow import DataOptions, MeasureOptions, Session, paths
    from edge_llm_ros.models.store import ModelStore

    data = DataOptions(
        paths=paths(args.data), heldout_fraction=args.heldout_fraction, split_seed=args.split_seed,
        split_by=args.split_by, crop=CropSpec(margin=args.margin, min_size_px=args.min_size),
        max_heldout=args.max_heldout_crops,
    )
    measure = MeasureOptions(batches=tuple(args.batches), seconds=args.seconds, threads=args.threads)
    progress = tqdm_factory(not args.no_progress)
    session = Session.open(ModelStore(args.store), args.model, data, measure, progress)
    print(f"parent {session.parent.model_id}; training {session.train.describe()}")
    print(f"held-out {session.heldout.describe()}")
    return session


def _train_config(args: argparse.Namespace, base: Any) -> Any:
    return replace(
        base, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, temperature=args.temperature,
        alpha=args.alpha, seed=args.seed, threads=args.train_threads,
    )


def _finish(args: argparse.Namespace, evaluator: Any, report: Any, *, exit_on_verdict: bool) -> int:
    from edge_llm_ros.compression.report import LEGEND, baseline_report, chart, row, table

    rows = [row(baseline_report(report), baseline=True), row(report)]
    print(table(rows))
    print(LEGEND)
    print(report.summary())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    if args.chart:
        name = report.candidate.model_id.split("@", 1)[0]
        others, refused = evaluator.check_all(name)
        all_rows = [row(baseline_report(report), baseline=True), *(row(r) for r in others)]
        for model_id, reason in refused.items():
            print(f"not charted: {model_id}: {reason}")
        print(table(all_rows))
        chart(all_rows, args.chart, f"{name}: all versions vs {report.baseline.model_id}")
        print(f"wrote {args.chart}")
    return (0 if report.passed else 1) if exit_on_verdict else 0


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn the expected failures (bad data, refused or missing models) into a message and exit code 2."""

    def wrapper(args: argparse.Namespace) -> int:
        from edge_llm_ros.models.errors import ModelError

        try:
            return run(args)
        except (CropError, ModelError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    wrapper.__doc__ = run.__doc__
    return wrapper


# ---------------------------------------------------------------------------------------- commands
@_guarded
def _quantize(args: argparse.Namespace) -> int:
    from edge_llm_ros.compression.quantize import quantize

    session = _session(args)
    report = quantize(session, method=args.method, calibration_crops=args.calibration_crops, version=args.version,
                      max_drop=args.max_drop, seed=args.seed, overwrite=args.overwrite)
    return _finish(args, session.evaluator, report, exit_on_verdict=False)


@_guarded
def _prune(args: argparse.Namespace) -> int:
    from edge_llm_ros.compression.prune import prune
    from edge_llm_ros.compression.settings import DEFAULT_PRUNE_TRAIN

    session = _session(args)
    report = prune(session, ratio=args.ratio, train=_train_config(args, DEFAULT_PRUNE_TRAIN),
                   train_crops=args.train_crops, photos=args.photo_crops, hard_labels=args.hard_labels,
                   round_to=args.round_to, keep_narrow=args.keep_narrow,
                   version=args.version, max_drop=args.max_drop, overwrite=args.overwrite)
    return _finish(args, session.evaluator, report, exit_on_verdict=False)


@_guarded
def _distill(args: argparse.Namespace) -> int:
    from edge_llm_ros.compression.distill import distill
    from edge_llm_ros.compression.settings import DEFAULT_DISTILL_TRAIN

    session = _session(args)
    report = distill(session, size=args.size, width=args.width, train=_train_config(args, DEFAULT_DISTILL_TRAIN),
                     train_crops=args.train_crops, hard_labels=args.hard_labels, version=args.version,
                     max_drop=args.max_drop, overwrite=args.overwrite)
    return _finish(args, session.evaluator, report, exit_on_verdict=False)


@_guarded
def _fp16(args: argparse.Namespace) -> int:
    from edge_llm_ros.compression.fp16 import GpuUnavailableError, build_tensorrt_engine, fp16, torch2trt_status

    session = _session(args)
    report = fp16(session, version=args.version, max_drop=args.max_drop, overwrite=args.overwrite)
    code = _finish(args, session.evaluator, report, exit_on_verdict=False)
    if args.tensorrt:
        ref = session.store.resolve(report.candidate.model_id)
        cache = args.trt_cache or session.store.root / ".trt_cache"
        try:
            result = build_tensorrt_engine(session, ref, precision=args.precision, cache_root=cache)
        except GpuUnavailableError as exc:
            print(f"TensorRT: skipped: {exc}")
        else:
            print(f"TensorRT {result.key.tensorrt} engine for sm{''.join(map(str, result.key.compute_capability))} "
                  f"{result.key.precision}: {result.cache_dir} (first run {result.build_s:.1f} s, "
                  f"{result.ms_per_crop:.2f} ms per crop)")
    if args.torch2trt:
        reason = torch2trt_status()
        print(f"torch2trt: skipped: {reason}" if reason else
              "torch2trt: available; convert with edge_llm_ros.compression.fp16.build_torch2trt")
    return code


@_guarded
def _check(args: argparse.Namespace) -> int:
    from edge_llm_ros.compression.check import Evaluator
    from edge_llm_ros.compression.progress import tqdm_factory
    from edge_llm_ros.compression.workflow import DataOptions, paths
    from edge_llm_ros.models.store import ModelStore

    data = DataOptions(
        paths=paths(args.data), heldout_fraction=args.heldout_fraction, split_seed=args.split_seed,
        split_by=args.split_by, crop=CropSpec(margin=args.margin, min_size_px=args.min_size),
        max_heldout=args.max_heldout_crops,
    )
    progress = tqdm_factory(not args.no_progress)
    _, heldout = data.load(progress)
    print(f"held-out {heldout.describe()}")
    evaluator = Evaluator(ModelStore(args.store), args.baseline, heldout, batches=tuple(args.batches),
                          seconds=args.seconds, threads=args.threads, progress=progress)
    report = evaluator.check(args.model)
    return _finish(args, evaluator, report, exit_on_verdict=True)


@_guarded
def _bench(args: argparse.Namespace) -> int:
    from edge_llm_ros.app.bench_optimize import BenchOptions, bench_optimize
    from edge_llm_ros.compression.progress import tqdm_factory
    from edge_llm_ros.models.store import ModelStore

    options = BenchOptions.quick() if args.quick else BenchOptions(
        train_duration_s=args.train_duration, heldout_duration_s=args.train_duration,
        prune_epochs=args.prune_epochs, distill_epochs=args.distill_epochs,
    )
    options = replace(options, seconds=args.seconds if not args.quick else options.seconds, threads=args.threads)
    bench_optimize(args.report, source_store=ModelStore(args.store), train_bags=args.train_bags,
                   heldout_bags=args.heldout_bags, options=options, progress=tqdm_factory(not args.no_progress))
    return 0
