"""INT8 vs FP32 ROI classifier: size, top-1 agreement on held-out crops, ms per crop (batch 1/8, 1/2 threads).

    python benchmarks/int8_vs_fp32.py [--store DIR] [--crops 256] [--seconds 2] [--json OUT]

Prepares roi_classifier into the store first if it is missing (needs the `models` extra). Held-out
crops are random crops of the scikit-image photos with a seed the INT8 calibration never saw.
Numbers are printed, not asserted. Timing: median of repeated runs after warm-up, per crop.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_llm_ros.app.prepare import prepare_models
from edge_llm_ros.app.prepare.roi_classifier import FP32_VERSION, INT8_VERSION, NAME, heldout_batch
from edge_llm_ros.inference.engine import EngineOptions, OrtEngine
from edge_llm_ros.inference.golden_check import run_batched
from edge_llm_ros.models.labels import ClassRollup
from edge_llm_ros.models.store import ModelStore


def ms_per_crop(engine: OrtEngine, batch: np.ndarray, seconds: float) -> float:
    """Median wall time per crop over repeated runs of `batch` (after 3 warm-up runs)."""
    for _ in range(3):
        engine.run(batch)
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 5:
        start = time.perf_counter()
        engine.run(batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0 / len(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, help="model store (default: the usual default store)")
    parser.add_argument("--crops", type=int, default=256, help="held-out crops for agreement (default 256)")
    parser.add_argument("--seconds", type=float, default=2.0, help="timing budget per configuration")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()

    store = ModelStore(args.store)
    prepare_models(store, [NAME], log=print)
    refs = {v: store.verify(NAME, v) for v in (FP32_VERSION, INT8_VERSION)}
    held = heldout_batch(args.crops)
    rollup = ClassRollup(refs[FP32_VERSION].manifest.labels, 1000)  # type: ignore[arg-type]

    logits = {}
    for version, ref in refs.items():
        logits[version] = run_batched(OrtEngine(ref, EngineOptions(intra_op_threads=2)), {"input": held})["logits"]
    fp32_top1 = logits[FP32_VERSION].argmax(1)
    fp32_probs = np.exp(logits[FP32_VERSION] - logits[FP32_VERSION].max(1, keepdims=True))
    confident = (fp32_probs / fp32_probs.sum(1, keepdims=True)).max(1) >= 0.5
    fp32_cls = rollup.classify(logits[FP32_VERSION])[0]

    results: dict[str, Any] = {"cpu_count": os.cpu_count(), "heldout_crops": len(held), "models": {}}
    for version, ref in refs.items():
        size = sum(f.size_bytes for f in ref.manifest.files if f.role in ("model", "weights"))
        entry: dict[str, Any] = {
            "size_mb": size / 1e6,
            "top1_agreement_vs_fp32": float(np.mean(logits[version].argmax(1) == fp32_top1)),
            "top1_agreement_vs_fp32_where_fp32_p_ge_0.5": float(
                np.mean(logits[version].argmax(1)[confident] == fp32_top1[confident])
            ),
            "roi_class_agreement_vs_fp32": float(np.mean(rollup.classify(logits[version])[0] == fp32_cls)),
            "ms_per_crop": {},
        }
        for threads in (1, 2):
            engine = OrtEngine(ref, EngineOptions(intra_op_threads=threads))
            for batch in (1, 8):
                entry["ms_per_crop"][f"batch{batch}_threads{threads}"] = ms_per_crop(engine, held[:batch], args.seconds)
        results["models"][version] = entry

    fp32, int8 = results["models"][FP32_VERSION], results["models"][INT8_VERSION]
    results["confident_crops"] = int(confident.sum())
    print(f"\nroi_classifier on {len(held)} held-out crops ({int(confident.sum())} where FP32 p >= 0.5), "
          f"{os.cpu_count()} CPU cores")
    print(f"{'version':12s} {'MB':>7s} {'top1 agr':>9s} {'p>=.5 agr':>9s} {'class agr':>9s}  "
          "ms/crop: b1t1   b8t1   b1t2   b8t2")
    for version, e in results["models"].items():
        t = e["ms_per_crop"]
        print(f"{version:12s} {e['size_mb']:7.2f} {e['top1_agreement_vs_fp32']:9.4f} "
              f"{e['top1_agreement_vs_fp32_where_fp32_p_ge_0.5']:9.4f} "
              f"{e['roi_class_agreement_vs_fp32']:9.4f}  {t['batch1_threads1']:12.2f} {t['batch8_threads1']:6.2f} "
              f"{t['batch1_threads2']:6.2f} {t['batch8_threads2']:6.2f}")
    results["size_ratio_int8_over_fp32"] = int8["size_mb"] / fp32["size_mb"]
    results["speedup_int8"] = {k: fp32["ms_per_crop"][k] / int8["ms_per_crop"][k] for k in fp32["ms_per_crop"]}
    print(f"INT8 size {results['size_ratio_int8_over_fp32']:.1%} of FP32; speed-up "
          + ", ".join(f"{k} {v:.2f}x" for k, v in results["speedup_int8"].items()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
