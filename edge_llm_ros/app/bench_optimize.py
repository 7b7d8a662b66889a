"""`edge-llm-ros bench optimize`: every compression of the sample classifier, measured on held-out drive crops.

    edge-llm-ros bench optimize --report out/optimize

1. The FP32 ROI classifier comes from the model store (prepared there first if it is missing) and
   is copied into a fresh store under the report directory, so the benchmark never touches the
   user's store.
2. Training drives (default: seeds 11 and 12, 20 s each) and a held-out drive (seed 13, 20 s) are
   synthesised into the report directory unless given. Held-out crops come from their own bag:
   no object seen in training (or calibration) is measured.
3. Variants: INT8 static (calibrated on training crops), INT8 dynamic, pruned 30 % and 50 % of
   channels (distillation fine-tune), distilled student; each is written to the bench store with
   its manifest and checked by `optimize check`'s code.
4. `optimize.json` holds one entry per variant (size_ratio, agreement, accuracy, speed-up vs FP32
   and ms per crop at batch 1 and 8); the table is printed and `optimize.png` charts it.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edge_llm_ros.compression.check import CheckReport
from edge_llm_ros.compression.crops import load_crops
from edge_llm_ros.compression.progress import ProgressFactory, silent
from edge_llm_ros.compression.publish import tool_versions
from edge_llm_ros.compression.report import LEGEND, baseline_report, chart, row, table
from edge_llm_ros.compression.workflow import MeasureOptions, Session
from edge_llm_ros.models.store import ModelStore

PARENT = "roi_classifier@1.0.0-fp32"
TRAIN_SEEDS = (11, 12)
HELDOUT_SEED = 13

Log = Callable[[str], None]


@dataclass(frozen=True)
class BenchOptions:
    """What to run: drives, training effort, timing."""

    train_duration_s: float = 20.0
    heldout_duration_s: float = 20.0
    prune_epochs: int = 4
    # Fine-tuning EfficientNet-Lite0 costs ~40 ms per crop and epoch on 2 cores (channels-last);
    # 768 drive crops + the photo crops keep both pruned variants at a few minutes each.
    prune_train_crops: int | None = 768
    distill_epochs: int = 10
    calibration_crops: int = 128
    seconds: float = 2.0
    threads: int = 1
    batches: tuple[int, ...] = (1, 8)

    @classmethod
    def quick(cls) -> BenchOptions:
        """A smoke-test sized run (short drives, little training, short timing)."""
        return cls(train_duration_s=4.0, heldout_duration_s=3.0, prune_epochs=1, prune_train_crops=64,
                   distill_epochs=2, calibration_crops=16, seconds=0.2)


def _bags(report_dir: Path, train: Sequence[Path], heldout: Sequence[Path], options: BenchOptions,
          log: Log) -> tuple[list[Path], list[Path]]:
    from edge_llm_ros.scenes import synthesize

    bag_dir = report_dir / "bags"
    if not train:
        train = []
        for seed in TRAIN_SEEDS:
            path = bag_dir / f"train_seed{seed}"
            if not path.exists():
                log(f"synthesising training drive {path} ({options.train_duration_s:g} s, seed {seed})")
                synthesize(path, scene="traffic", duration_s=options.train_duration_s, seed=seed)
            train.append(path)
    if not heldout:
        path = bag_dir / f"heldout_seed{HELDOUT_SEED}"
        if not path.exists():
            log(f"synthesising held-out drive {path} ({options.heldout_duration_s:g} s, seed {HELDOUT_SEED})")
            synthesize(path, scene="traffic", duration_s=options.heldout_duration_s, seed=HELDOUT_SEED)
        heldout = [path]
    return list(train), list(heldout)


def bench_optimize(
    report_dir: Path,
    *,
    source_store: ModelStore,
    train_bags: Sequence[Path] = (),
    heldout_bags: Sequence[Path] = (),
    options: BenchOptions | None = None,
    progress: ProgressFactory = silent,
    log: Log = print,
) -> dict[str, Any]:
    """Run the benchmark (see the module docstring); writes optimize.json and optimize.png, returns the JSON."""
    from edge_llm_ros.app.prepare import prepare_models
    from edge_llm_ros.compression.distill import distill
    from edge_llm_ros.compression.prune import prune
    from edge_llm_ros.compression.quantize import quantize
    from edge_llm_ros.compression.settings import DEFAULT_DISTILL_TRAIN, DEFAULT_PRUNE_TRAIN

    options = options or BenchOptions()
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    name, _, version = PARENT.partition("@")
    if version not in source_store.versions(name):
        log(f"{PARENT} is not in {source_store.root}: preparing it (needs the `models` extra)")
        prepare_models(source_store, [name], log=log)
    store = ModelStore(report_dir / "store")
    if version in store.versions(name):
        store.remove(name, version)
    store.add(source_store.verify(name, version).directory)

    train_paths, heldout_paths = _bags(report_dir, train_bags, heldout_bags, options, log)
    with progress("reading training drives", 0) as update:
        train = load_crops(train_paths, progress=update)
    with progress("reading held-out drive", 0) as update:
        heldout = load_crops(heldout_paths, progress=update)
    log(f"training crops: {train.describe()}")
    log(f"held-out crops: {heldout.describe()}")
    measure = MeasureOptions(batches=options.batches, seconds=options.seconds, threads=options.threads)
    session = Session(store, PARENT, train, heldout, measure, progress)

    prune_train = replace(DEFAULT_PRUNE_TRAIN, epochs=options.prune_epochs)
    runs: list[tuple[str, Callable[[], CheckReport]]] = [
        ("INT8 static", lambda: quantize(session, method="static", calibration_crops=options.calibration_crops)),
        ("INT8 dynamic", lambda: quantize(session, method="dynamic")),
        ("pruned 30 %", lambda: prune(session, ratio=0.3, train=prune_train, train_crops=options.prune_train_crops)),
        ("pruned 50 %", lambda: prune(session, ratio=0.5, train=prune_train, train_crops=options.prune_train_crops)),
        ("distilled student",
         lambda: distill(session, train=replace(DEFAULT_DISTILL_TRAIN, epochs=options.distill_epochs))),
    ]
    reports: list[tuple[str, CheckReport]] = []
    for label, run in runs:
        log(f"-- {label}")
        report = run()
        log(report.summary())
        reports.append((label, report))

    first = reports[0][1]
    rows = [{"variant": "FP32", **row(baseline_report(first), baseline=True)}]
    rows += [{"variant": label, **row(report)} for label, report in reports]
    result: dict[str, Any] = {
        "benchmark": "optimize",
        "parent": PARENT,
        "environment": {
            "cpu_count": os.cpu_count(), "machine": platform.machine(), "processor": platform.processor(),
            "python": platform.python_version(), "intra_op_threads": options.threads,
            "tools": tool_versions("torch", "torch-pruning", "onnxconverter-common"),
        },
        "options": {k: v for k, v in vars(options).items()},
        "train_bags": [str(p) for p in train_paths],
        "heldout_bags": [str(p) for p in heldout_paths],
        "train_crops": len(train),
        "heldout_crops": len(heldout),
        "heldout_classes": heldout.class_counts(),
        "legend": LEGEND,
        "variants": rows,
    }
    (report_dir / "optimize.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    title = f"{name}: compressed variants vs FP32 on {len(heldout)} held-out drive crops"
    chart(rows, report_dir / "optimize.png", title)
    log(table(rows))
    log(LEGEND)
    log(f"wrote {report_dir / 'optimize.json'} and {report_dir / 'optimize.png'}")
    return result
