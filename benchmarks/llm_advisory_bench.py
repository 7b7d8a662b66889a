"""Advisory latency at a fixed request rate: SceneAdvisor + SmolLM2 int4, no transport.

Submits one traffic scene every 1/rate seconds for `--seconds`, as the decision node does at its
configured LLM rate, and reports advisories served / dropped (deadline, invalid), advisory latency
p50/p99 from submission, time to first token, and the batch-size histogram. This is the LLM's
share of the replay's advisory latency; the replay adds the frame-to-decision time in front.

    python benchmarks/llm_advisory_bench.py --model /tmp/smollm2_int4 --rate 1 --seconds 20
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_llm_ros.llm.advisor import AdvisorConfig, AdvisoryRecord, SceneAdvisor
from edge_llm_ros.llm.batcher import LlmBatcherConfig
from edge_llm_ros.llm.builder import build_smollm2
from edge_llm_ros.llm.golden import golden_scenes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("/tmp/smollm2_int4"))
    parser.add_argument("--rate", type=float, default=1.0, help="advisory requests per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--deadline", type=float, default=3.0, help="per-request deadline, s")
    parser.add_argument("--max-batch", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    model_dir = build_smollm2(args.model)
    batcher = LlmBatcherConfig(
        max_batch=args.max_batch,
        max_queue_delay_s=0.05,
        deadline_s=args.deadline,
        max_new_tokens=args.max_new_tokens,
    )
    started = time.monotonic()
    advisor = SceneAdvisor(AdvisorConfig(model_dir, intra_op_threads=args.threads, batcher=batcher))
    print(f"configure (load + warm-up): {time.monotonic() - started:.2f} s; guidance {advisor.engine.guidance_mode}")

    records: list[AdvisoryRecord] = []
    drops: list[str] = []
    lock = threading.Lock()

    def on_record(record: AdvisoryRecord) -> None:
        with lock:
            records.append(record)

    def on_drop(reason: str) -> None:
        with lock:
            drops.append(reason)

    scenes = [s for s in golden_scenes() if s.scene == "traffic"]
    count = int(args.rate * args.seconds)
    t0 = time.monotonic()
    for i in range(count):
        time.sleep(max(0.0, t0 + i / args.rate - time.monotonic()))
        scene = scenes[i % len(scenes)]
        advisor.advise(type(scene)(scene.scene, scene.ego_speed_mps, scene.objects, stamp_ns=i), on_record, on_drop)
    advisor.wait_idle(args.deadline + 30)
    stats = advisor.stats()
    advisor.close()

    latencies = np.array([r.latency_s for r in records])
    ttft = np.array([r.time_to_first_token_s for r in records if r.time_to_first_token_s is not None])
    print(f"requests {count} at {args.rate} Hz over {args.seconds:.0f} s; max_batch {args.max_batch}, ", end="")
    print(f"deadline {args.deadline} s")
    print(
        f"served {stats['served']}, cancelled_deadline {stats['cancelled_deadline']}, "
        f"rejected_invalid {stats['rejected_invalid']}, all drops {len(drops)}"
    )
    if len(latencies):
        print(
            f"advisory latency p50 {np.percentile(latencies, 50):.3f} s, p99 {np.percentile(latencies, 99):.3f} s; "
            f"TTFT p50 {np.percentile(ttft, 50):.3f} s; tokens/advisory "
            f"{np.mean([r.generated_tokens for r in records]):.1f}"
        )
        print(f"example: {records[0].advisory.to_json()}")
    print(f"batch sizes: {stats['batch_sizes']}")


if __name__ == "__main__":
    main()
