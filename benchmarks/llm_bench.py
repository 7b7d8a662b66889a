"""SmolLM2-135M-Instruct int4 (ORT GenAI) vs transformers eager PyTorch on this CPU.

Builds the model if missing (`build_smollm2`, ~40 s), then measures with scene prompts from
PromptBuilder and greedy decoding:
  * time to first token (prefill + 1 token) for one scene prompt, batch 1;
  * decode tokens/s at batch 1, 4, 8 (MAX_NEW tokens per row; rate over the tokens after the
    first, summed over rows): ORT GenAI unguided, ORT GenAI JSON-schema guided, and
    transformers eager (same fp32 weights dequantized from the same GGUF) as the baseline;
  * how many guided advisories validate against the narrowed schema.
Prints a table and writes JSON. Numbers, not assertions.

    python benchmarks/llm_bench.py --model /tmp/smollm2_int4 --out /tmp/llm_bench.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_llm_ros.llm.advisory import AdvisorySchema, InvalidAdvisoryError
from edge_llm_ros.llm.builder import build_smollm2, export_smollm2_hf
from edge_llm_ros.llm.engine import LlmEngine, LlmEngineConfig
from edge_llm_ros.llm.prompt import PromptBuilder, SceneObject, SceneSummary

MAX_NEW = 32
BATCHES = (1, 4, 8)
REPEATS = 3


def scenes(n: int) -> list[SceneSummary]:
    """N distinct traffic scenes (different objects and speeds), as the decision node would send."""
    labels = ("person", "car", "bicycle", "truck", "motorcycle", "bus")
    out = []
    for i in range(n):
        objects = tuple(
            SceneObject(
                object_id=10 * i + k,
                label=labels[(i + k) % len(labels)],
                range_m=8.0 + 7.0 * k + i,
                ttc_s=1.2 + 0.8 * k + 0.1 * i,
                lane=("ego", "adjacent", "unknown")[(i + k) % 3],
            )
            for k in range(3)
        )
        out.append(SceneSummary("traffic", ego_speed_mps=8.0 + i, objects=objects, stamp_ns=i))
    return out


def ort_run(engine: LlmEngine, prompts: list[str], schema: list[str | None] | None) -> dict[str, float]:
    results = engine.generate_batch(prompts, MAX_NEW, json_schema=schema)
    first = min(r.first_token_ns for r in results if r.first_token_ns is not None)
    done = max(r.done_ns for r in results)
    after_first = sum(max(r.generated_tokens - 1, 0) for r in results)
    return {
        "ttft_s": (first - results[0].started_ns) / 1e9,
        "decode_tok_s": after_first / max((done - first) / 1e9, 1e-9),
        "e2e_tok_s": sum(r.generated_tokens for r in results) / ((done - results[0].started_ns) / 1e9),
        "tokens": float(sum(r.generated_tokens for r in results)),
    }


def torch_run(model: Any, tokenizer: Any, prompts: list[str]) -> dict[str, float]:
    import torch

    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        start = time.perf_counter()
        model.generate(**batch, max_new_tokens=1, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        ttft = time.perf_counter() - start
        start = time.perf_counter()
        out = model.generate(
            **batch, max_new_tokens=MAX_NEW, min_new_tokens=MAX_NEW, do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip
        total = time.perf_counter() - start
    generated = (out.shape[1] - batch["input_ids"].shape[1]) * len(prompts)
    return {
        "ttft_s": ttft,
        "decode_tok_s": (generated - len(prompts)) / max(total - ttft, 1e-9),
        "e2e_tok_s": generated / total,
        "tokens": float(generated),
    }


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("/tmp/smollm2_int4"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1, help="ORT intra-op threads (0 = all cores)")
    parser.add_argument("--no-torch", action="store_true", help="skip the transformers baseline")
    args = parser.parse_args()

    started = time.monotonic()
    model_dir = build_smollm2(args.model)
    print(f"model: {model_dir} (ready in {time.monotonic() - started:.1f} s)")
    engine = LlmEngine(LlmEngineConfig(model_dir, intra_op_threads=args.threads))
    builder = PromptBuilder(chat_format=engine.format_chat)
    all_scenes = scenes(max(BATCHES))
    prompts = [builder.build(s) for s in all_scenes]
    base = AdvisorySchema.load()
    schemas = [base.narrowed(s.allowed_actions(), [o.object_id for o in s.objects]) for s in all_scenes]
    print(f"scene prompt: {engine.count_tokens(prompts[0])} tokens; guidance: {engine.guidance_mode}")
    engine.warmup(json_schema=schemas[0].json)

    report: dict[str, Any] = {"model": str(model_dir), "max_new_tokens": MAX_NEW, "threads": args.threads}
    report["ttft_batch1_s"] = median_of([ort_run(engine, prompts[:1], None) for _ in range(5)])["ttft_s"]
    for mode in ("ort", "ort_guided"):
        for b in BATCHES:
            schema = [s.json for s in schemas[:b]] if mode == "ort_guided" else None
            report[f"{mode}_b{b}"] = median_of([ort_run(engine, prompts[:b], schema) for _ in range(REPEATS)])

    # Guided advisories at full length: how many validate (the rest would be dropped and counted).
    results = engine.generate_batch(prompts, 160, json_schema=[s.json for s in schemas])
    valid = []
    for result, schema in zip(results, schemas, strict=True):
        with contextlib.suppress(InvalidAdvisoryError):
            valid.append(schema.parse(result.text).to_dict())
    report["advisories_valid"] = f"{len(valid)}/{len(results)}"
    report["advisory_example"] = valid[0] if valid else results[0].text

    if not args.no_torch:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(args.threads or os.cpu_count() or 1)
        with tempfile.TemporaryDirectory() as tmp:
            hf_dir = export_smollm2_hf(Path(tmp) / "hf")
            tokenizer = AutoTokenizer.from_pretrained(str(hf_dir), padding_side="left")
            model = AutoModelForCausalLM.from_pretrained(str(hf_dir), attn_implementation="eager").eval()
        torch_run(model, tokenizer, prompts[:1])  # warm-up
        report["torch_ttft_batch1_s"] = median_of([torch_run(model, tokenizer, prompts[:1]) for _ in range(3)])[
            "ttft_s"
        ]
        for b in BATCHES:
            report[f"torch_b{b}"] = median_of([torch_run(model, tokenizer, prompts[:b]) for _ in range(REPEATS)])

    print(f"\nTTFT batch 1 (scene prompt): ORT int4 {report['ttft_batch1_s'] * 1e3:.1f} ms", end="")
    if "torch_ttft_batch1_s" in report:
        print(f", torch eager fp32 {report['torch_ttft_batch1_s'] * 1e3:.1f} ms", end="")
    print("\n\nbatch | ORT decode tok/s | ORT guided decode tok/s | torch eager decode tok/s | ORT/torch")
    for b in BATCHES:
        ort, guided = report[f"ort_b{b}"], report[f"ort_guided_b{b}"]
        torch_rate = report.get(f"torch_b{b}", {}).get("decode_tok_s")
        ratio = f"{ort['decode_tok_s'] / torch_rate:.2f}x" if torch_rate else "-"
        torch_text = f"{torch_rate:.1f}" if torch_rate else "-"
        print(f"{b:5d} | {ort['decode_tok_s']:16.1f} | {guided['decode_tok_s']:23.1f} | {torch_text:>24} | {ratio}")
    print(f"\nguided advisories valid: {report['advisories_valid']}; example: {report['advisory_example']}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
