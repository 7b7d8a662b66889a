"""The steps of an ORT GenAI model build (llm/builder.py runs them): HF folders, the GenAI builder, the golden gate.

Heavy imports (torch, transformers, tokenizers) happen inside the functions.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from edge_llm_ros._compat import UTC
from edge_llm_ros.llm.engine import LlmEngine, LlmEngineConfig
from edge_llm_ros.llm.golden import (
    GATE_METRIC,
    GOLDEN_FILE,
    GOLDEN_TOKENS,
    agreement,
    golden_prompt_ids,
    pack_prompts,
    teacher_forced,
)
from edge_llm_ros.models.golden import GoldenSet
from edge_llm_ros.models.hashing import sha256_file
from edge_llm_ros.models.manifest import (
    MANIFEST_FILE,
    AccuracyGate,
    FileEntry,
    Manifest,
    TensorSpec,
)
from edge_llm_ros.models.store import ModelRef

REFERENCE = "transformers-fp32"  # what the accuracy gate compares against (not a store version)
# The ChatML template SmolLM2 ships; the tiny model uses it too so both take the same prompt path.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_TINY_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# Enough varied text for a byte-level BPE to learn merges for the words our prompts and JSON use.
_TINY_CORPUS = (
    "You are a driving assistant on an edge computer. Reply with one JSON object only.",
    "Scene traffic. Ego speed 12.5 m/s. Objects: track 3 pedestrian range 14.0 m TTC 2.1 s lane ego.",
    "Scene industrial. Conveyor running. Objects: part 7 scratch, part 9 ok, part 12 dent.",
    '{"action": "BRAKE", "risk": "HIGH", "explanation": "pedestrian in ego lane", "objects_of_concern": [3, 5]}',
    '{"action": "CONTINUE", "risk": "LOW", "explanation": "road clear", "objects_of_concern": []}',
    '{"action": "SLOW_DOWN", "risk": "MEDIUM", "explanation": "car ahead braking", "objects_of_concern": [12]}',
    '{"action": "REJECT", "risk": "MEDIUM", "explanation": "scratch on part", "objects_of_concern": [7]}',
    "car truck bus bicycle motorcycle person pedestrian cyclist dog cat traffic light stop sign",
    "The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7 8 9 10 100 1000 0.5 1.25 -3",
    "range TTC lane left right ego adjacent unknown speed seconds metres km/h m/s risk action why",
)


class LlmBuildError(RuntimeError):
    """A model could not be built; the message says which step failed and why."""


def complete(model_dir: Path) -> bool:
    """A finished build: its manifest parses and every listed file matches its sha256."""
    if not (model_dir / MANIFEST_FILE).is_file():
        return False
    try:
        ModelRef(Manifest.load(model_dir), model_dir).verify()
    except Exception:  # anything short of a verified manifest means rebuild
        return False
    return True


def golden_gate(hf_dir: Path, model_dir: Path, max_drop: float) -> tuple[AccuracyGate, int]:
    """Compare the built model with the FP32 HF model on the golden prompts; write golden.npz."""
    engine = LlmEngine(LlmEngineConfig(model_dir, guidance="off"))
    prompt_ids = golden_prompt_ids(engine)
    reference = torch_greedy(hf_dir, prompt_ids, GOLDEN_TOKENS)
    candidate = teacher_forced(engine, prompt_ids, reference)
    packed, lengths = pack_prompts(prompt_ids, engine.info.pad_token_id)
    del engine
    GoldenSet(
        inputs={"input_ids": packed},
        expected={"top1": candidate},
        reference={"top1": reference, "prompt_tokens": lengths},
    ).save(model_dir / GOLDEN_FILE)
    measured = {
        "golden_top1_agreement_vs_fp32": agreement(candidate, reference),
        "golden_tokens": float(reference.size),
    }
    return AccuracyGate(GATE_METRIC, max_drop, REFERENCE, measured), len(prompt_ids)


def torch_greedy(hf_dir: Path, prompt_ids: list[np.ndarray], count: int) -> np.ndarray:
    """FP32 transformers greedy continuation of each prompt (EOS not special), int32 [N, count]."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(hf_dir), attn_implementation="eager").eval()
    # transformers 5.2x calls the KV cache `cache`; earlier versions `past_key_values`.
    cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    rows = []
    with torch.inference_mode():
        for ids in prompt_ids:
            current = torch.tensor(np.asarray(ids, dtype=np.int64))[None]
            cache = None
            tokens = []
            for _ in range(count):
                out = model(input_ids=current, use_cache=True, **{cache_arg: cache})
                cache = out[cache_arg]
                token = int(out.logits[0, -1].argmax())
                tokens.append(token)
                current = torch.tensor([[token]])
            rows.append(tokens)
    return np.asarray(rows, dtype=np.int32)


def decoder_io(onnx_path: Path) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Inputs and outputs of the decoder graph, read from the file (weights not loaded)."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph

    def spec(value: Any) -> TensorSpec:
        tensor = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim)
        return TensorSpec(value.name, dims, onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name)

    return tuple(spec(v) for v in graph.input), tuple(spec(v) for v in graph.output)


def file_entries(model_dir: Path, decoder_file: str) -> list[FileEntry]:
    entries = []
    for path in sorted(model_dir.rglob("*")):
        rel = path.relative_to(model_dir).as_posix()
        if not path.is_file() or rel == MANIFEST_FILE:
            continue
        role = "model" if rel == decoder_file else "golden" if rel == GOLDEN_FILE else "other"
        if rel.endswith(".data"):
            role = "weights"
        entries.append(FileEntry(rel, sha256_file(path), path.stat().st_size, role))
    return entries


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def offline_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"})
    return env


def gguf_to_hf(gguf: Path, hf_dir: Path) -> None:
    """Dequantize the GGUF into a plain fp32 HF folder that the ORT GenAI builder can read."""
    os.environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise LlmBuildError(f"building SmolLM2 needs transformers, gguf and accelerate: {exc}") from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except Exception as exc:
        raise LlmBuildError(f"transformers could not load {gguf}: {exc}") from exc
    # The GGUF quantizer stays attached after dequantizing and save_pretrained refuses to write a
    # "gguf-quantized" model; the weights in memory are already plain fp32.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    hf_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(hf_dir))
    tokenizer.save_pretrained(str(hf_dir))
    ensure_chat_template(hf_dir, tokenizer)


def ensure_chat_template(hf_dir: Path, tokenizer: Any) -> None:
    """Keep the chat template as chat_template.jinja, where the ORT GenAI tokenizer finds it."""
    template = getattr(tokenizer, "chat_template", None)
    if template and not (hf_dir / "chat_template.jinja").exists():
        (hf_dir / "chat_template.jinja").write_text(template, encoding="utf-8")


def write_tiny_hf_model(hf_dir: Path, seed: int) -> None:
    """A random Llama with its own small byte-level BPE tokenizer, saved as an HF folder."""
    try:
        import torch
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
        from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    except ImportError as exc:
        raise LlmBuildError(f"building the tiny model needs torch, tokenizers and transformers: {exc}") from exc

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=list(_TINY_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(list(_TINY_CORPUS) * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    vocab = len(tokenizer)
    special = {tok: int(tokenizer.convert_tokens_to_ids(tok)) for tok in _TINY_SPECIAL_TOKENS}  # type: ignore[arg-type]

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=special["<|im_start|>"],
        eos_token_id=special["<|im_end|>"],
        pad_token_id=special["<|im_end|>"],
    )
    config.architectures = ["LlamaForCausalLM"]
    model = LlamaForCausalLM(config).eval()
    hf_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(hf_dir))
    tokenizer.save_pretrained(str(hf_dir))
    ensure_chat_template(hf_dir, tokenizer)


def run_genai_builder(
    hf_dir: Path,
    out_dir: Path,
    precision: str,
    execution_provider: str,
    cache: Path,
    extra_options: Mapping[str, str] | None = None,
) -> None:
    """Run `python -m onnxruntime_genai.models.builder` on an HF folder; LlmBuildError with its log tail."""
    cmd: list[str] = [
        sys.executable, "-m", "onnxruntime_genai.models.builder",
        "-i", str(hf_dir), "-o", str(out_dir),
        "-p", precision, "-e", execution_provider, "-c", str(cache),
    ]  # fmt: skip
    if extra_options:
        cmd += ["--extra_options", *(f"{k}={v}" for k, v in extra_options.items())]
    cache.mkdir(parents=True, exist_ok=True)
    log_path = cache / "builder.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=offline_env(), check=False)
    if proc.returncode != 0 or not (out_dir / "genai_config.json").is_file():
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise LlmBuildError(f"onnxruntime_genai builder failed (exit {proc.returncode}) for {hf_dir}:\n{tail}")


# --------------------------------------------------------------------------- helpers
class scratch_dir:  # noqa: N801 - used like tempfile.TemporaryDirectory
    """A temporary directory, under `parent` when given, removed on exit."""

    def __init__(self, parent: Path | None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="edge_llm_build_", dir=str(parent) if parent else None)

    def __enter__(self) -> Path:
        return Path(self._tmp.name)

    def __exit__(self, *exc: object) -> None:
        self._tmp.cleanup()


def stage_dir(out_dir: Path) -> Path:
    """A fresh sibling folder to build into, so a failed build never leaves a half-written model."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staged = out_dir.with_name(out_dir.name + ".partial")
    if staged.exists():
        shutil.rmtree(staged)
    return staged


def publish(staged: Path, out_dir: Path) -> None:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staged.rename(out_dir)


def dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not-installed"


def tool_versions() -> dict[str, str]:
    names = ("onnxruntime-genai", "onnxruntime", "onnx", "torch", "transformers", "tokenizers", "gguf", "accelerate")
    return {name: dist_version(name) for name in names}
