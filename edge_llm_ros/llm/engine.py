"""LLM engine over an onnxruntime-genai model folder: load, describe, generate a batch.

Everything model-specific (context length, vocabulary, EOS/pad/BOS ids, layer count, decoder
file, chat template) is read from the folder's genai_config.json and tokenizer files; the
execution provider and thread count come from our config. Batched generation uses one ORT GenAI
Generator with batch_size = len(prompts); the library left-pads the prompts. Rows stop on EOS,
on their own max_new_tokens, when the caller cancels them (deadline), or when their JSON grammar
is complete. A missing backend or a broken folder raises LlmConfigError at load, naming the cause.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from edge_llm_ros.llm.guidance import (
    GrammarGuide,
    GuidanceUnavailableError,
    SequenceConstraint,
    apply_bitmask,
    eos_only_row,
    llguidance_available,
    native_schema,
)
from edge_llm_ros.llm.prompt import plain_chat

GuidanceMode = Literal["auto", "llguidance", "native", "off"]
FinishReason = Literal["eos", "length", "cancelled", "grammar_error"]
TokenCallback = Callable[[int, str], None]
GENAI_CONFIG = "genai_config.json"
BACKEND_MODULE = "onnxruntime_genai"


class LlmConfigError(RuntimeError):
    """The LLM cannot be configured: backend missing, model folder broken, bad option. Says which."""


class LlmInputError(ValueError):
    """A prompt or generation request that this model cannot serve (e.g. longer than its context)."""


def import_backend(module: str = BACKEND_MODULE) -> ModuleType:
    """Import the ORT GenAI Python module; LlmConfigError naming the package when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise LlmConfigError(
            f"LLM backend {module!r} is not importable ({exc}); install it with `pip install onnxruntime-genai`"
        ) from exc


@dataclass(frozen=True)
class LlmEngineConfig:
    """How to run a model folder. `guidance`: auto = llguidance if installed, else native ORT GenAI.

    `intra_op_threads` 0 keeps ORT's default (all cores); on a 2-core box 1 can win for small
    models, so it is a parameter rather than a guess.
    """

    model_dir: Path
    execution_provider: str = "cpu"
    provider_options: Mapping[str, str] = field(default_factory=dict)
    intra_op_threads: int = 0
    guidance: GuidanceMode = "auto"
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    repetition_penalty: float = 1.0

    def __post_init__(self) -> None:
        if self.guidance not in ("auto", "llguidance", "native", "off"):
            raise LlmConfigError(f"guidance must be auto|llguidance|native|off, got {self.guidance!r}")
        if self.intra_op_threads < 0:
            raise LlmConfigError(f"intra_op_threads must be >= 0, got {self.intra_op_threads}")
        if self.temperature <= 0 or not 0 < self.top_p <= 1 or self.top_k < 0 or self.repetition_penalty <= 0:
            raise LlmConfigError("sampling options out of range (temperature > 0, 0 < top_p <= 1, top_k >= 0)")


@dataclass(frozen=True)
class ModelInfo:
    """What the model folder says about itself (genai_config.json)."""

    model_dir: Path
    model_type: str
    context_length: int
    vocab_size: int
    eos_token_ids: tuple[int, ...]
    pad_token_id: int
    bos_token_id: int | None
    num_hidden_layers: int
    decoder_file: str


@dataclass
class GenerationResult:
    """One row of a batch. Times are time.monotonic_ns(); first_token_ns is None if nothing was made."""

    text: str
    token_ids: tuple[int, ...]
    prompt_tokens: int
    finish_reason: FinishReason
    started_ns: int
    first_token_ns: int | None
    done_ns: int
    error: str | None = None

    @property
    def generated_tokens(self) -> int:
        """Number of generated tokens (EOS excluded)."""
        return len(self.token_ids)


def read_model_info(model_dir: Path) -> ModelInfo:
    """Parse and check genai_config.json and the files it names; LlmConfigError names what is wrong."""
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise LlmConfigError(f"LLM model folder {model_dir} does not exist")
    if not model_dir.is_dir():
        raise LlmConfigError(f"LLM model path {model_dir} is not a folder")
    config_path = model_dir / GENAI_CONFIG
    if not config_path.is_file():
        raise LlmConfigError(f"{model_dir} has no {GENAI_CONFIG}: not an ORT GenAI model folder")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LlmConfigError(f"{config_path} is not valid JSON: {exc}") from exc

    def need(path: str, kind: type | tuple[type, ...]) -> Any:
        node: Any = config
        for key in path.split("."):
            if not isinstance(node, dict) or key not in node:
                raise LlmConfigError(f"{config_path} lacks {path}")
            node = node[key]
        if not isinstance(node, kind) or isinstance(node, bool):
            raise LlmConfigError(f"{config_path}: {path} has the wrong type ({type(node).__name__})")
        return node

    eos = need("model.eos_token_id", (int, list))
    eos_ids = tuple(int(x) for x in (eos if isinstance(eos, list) else [eos]))
    if not eos_ids:
        raise LlmConfigError(f"{config_path}: model.eos_token_id is empty")
    decoder_file = str(need("model.decoder.filename", str))
    if not (model_dir / decoder_file).is_file():
        raise LlmConfigError(f"{model_dir}: decoder file {decoder_file} named in {GENAI_CONFIG} is missing")
    if not any((model_dir / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")):
        raise LlmConfigError(f"{model_dir} has no tokenizer.json / tokenizer_config.json")
    bos = config["model"].get("bos_token_id")
    return ModelInfo(
        model_dir=model_dir,
        model_type=str(need("model.type", str)),
        context_length=int(need("model.context_length", int)),
        vocab_size=int(need("model.vocab_size", int)),
        eos_token_ids=eos_ids,
        pad_token_id=int(config["model"].get("pad_token_id", eos_ids[0])),
        bos_token_id=int(bos) if isinstance(bos, int) else None,
        num_hidden_layers=int(need("model.decoder.num_hidden_layers", int)),
        decoder_file=decoder_file,
    )


class LlmEngine:
    """A loaded ORT GenAI model and tokenizer. `generate_batch` is serialised by a lock."""

    def __init__(self, config: LlmEngineConfig) -> None:
        self.config = config
        # the folder first: a wrong path is named even where the backend is not installed
        self.info = read_model_info(config.model_dir)
        self._og = import_backend()
        self._lock = threading.Lock()
        try:
            og_config = self._og.Config(str(self.info.model_dir))
            og_config.clear_providers()
            if config.execution_provider.lower() != "cpu":
                og_config.append_provider(config.execution_provider)
                for key, value in config.provider_options.items():
                    og_config.set_provider_option(config.execution_provider, key, str(value))
            if config.intra_op_threads:
                overlay = {"model": {"decoder": {"session_options": {"intra_op_num_threads": config.intra_op_threads}}}}
                og_config.overlay(json.dumps(overlay))
            self._model = self._og.Model(og_config)
            self._tokenizer = self._og.Tokenizer(self._model)
        except Exception as exc:  # ORT GenAI raises RuntimeError with its own text: keep it, add where
            raise LlmConfigError(
                f"onnxruntime-genai could not load {self.info.model_dir} "
                f"(execution provider {config.execution_provider!r}): {exc}"
            ) from exc
        self.guidance_mode = self._resolve_guidance(config.guidance)
        self._guide: GrammarGuide | None = None

    # ------------------------------------------------------------------ description
    @property
    def max_guided_batch(self) -> int | None:
        """Largest batch that guided generation supports (None: any); native ORT guidance is 1."""
        return 1 if self.guidance_mode == "native" else None

    def _resolve_guidance(self, mode: GuidanceMode) -> Literal["llguidance", "native", "off"]:
        if mode == "auto":
            return "llguidance" if llguidance_available() and self._tokenizer_json().is_file() else "native"
        if mode == "llguidance" and not llguidance_available():
            raise LlmConfigError("guidance 'llguidance' requested but the llguidance package is not installed")
        return mode

    def _tokenizer_json(self) -> Path:
        return self.info.model_dir / "tokenizer.json"

    def guide(self) -> GrammarGuide:
        """The grammar guide for this model's tokenizer (built on first use)."""
        if self._guide is None:
            try:
                self._guide = GrammarGuide(self._tokenizer_json(), self.info.vocab_size, self.info.eos_token_ids)
            except GuidanceUnavailableError as exc:
                raise LlmConfigError(str(exc)) from exc
        return self._guide

    def format_chat(self, messages: Sequence[Mapping[str, str]]) -> str:
        """Apply the model's chat template; without one, the plain format documented in prompt.py."""
        try:
            return str(self._tokenizer.apply_chat_template(json.dumps(list(messages)), add_generation_prompt=True))
        except Exception:  # no template in the folder, or one the library cannot render
            return plain_chat(messages)

    def count_tokens(self, text: str) -> int:
        """Number of tokens `text` encodes to."""
        return len(self._tokenizer.encode(text))

    def decode(self, token_ids: Sequence[int]) -> str:
        """Text of token ids."""
        return str(self._tokenizer.decode(np.asarray(token_ids, dtype=np.int32)))

    def encode(self, text: str) -> np.ndarray:
        """Token ids of `text` (int32)."""
        return np.asarray(self._tokenizer.encode(text), dtype=np.int32)

    def teacher_forced_top1(
        self, prompt_ids: Sequence[int] | npt.NDArray[np.integer], targets: Sequence[int] | npt.NDArray[np.integer]
    ) -> npt.NDArray[np.int32]:
        """Greedy next-token choice at each step while feeding `targets` (not its own choices).

        Returns int32 [len(targets)]: entry i is this model's argmax after prompt + targets[:i].
        Comparing it with a reference model's greedy tokens measures quantization drift without
        one early disagreement derailing the rest (the accuracy gate in llm/golden.py).
        """
        if len(prompt_ids) + len(targets) > self.info.context_length:
            raise LlmInputError("prompt + targets exceed the context length")
        with self._lock:
            params = self._og.GeneratorParams(self._model)
            params.set_search_options(max_length=len(prompt_ids) + len(targets) + 1, batch_size=1)
            generator = self._og.Generator(self._model, params)
            generator.append_tokens(np.asarray(prompt_ids, dtype=np.int32))
            out = np.empty(len(targets), dtype=np.int32)
            for i, target in enumerate(targets):
                out[i] = int(np.argmax(np.asarray(generator.get_logits()).reshape(-1)))
                generator.append_tokens(np.asarray([target], dtype=np.int32))
        return out

    def warmup(self, json_schema: str | None = None) -> GenerationResult:
        """One short generation so the first real request does not pay for session and grammar setup."""
        prompt = self.format_chat([{"role": "user", "content": "ok"}])
        return self.generate_batch([prompt], 2, json_schema=json_schema)[0]

    # ------------------------------------------------------------------ generation
    def generate_batch(
        self,
        prompts: Sequence[str],
        max_new_tokens: int | Sequence[int],
        *,
        json_schema: str | Sequence[str | None] | None = None,
        on_token: TokenCallback | None = None,
        should_stop: Callable[[int], bool] | None = None,
    ) -> list[GenerationResult]:
        """Generate for every prompt in one batched Generator; results in prompt order.

        `json_schema` (a JSON string, or one per prompt, None for a free row) constrains the rows
        unless guidance is off. `on_token(row,
        text)` streams decoded pieces; `should_stop(row)` is polled each step and cancels a row
        (finish_reason "cancelled"). Raises LlmInputError for a prompt that does not fit.
        """
        if not prompts:
            return []
        batch = len(prompts)
        limits = [max_new_tokens] * batch if isinstance(max_new_tokens, int) else list(max_new_tokens)
        if len(limits) != batch or min(limits) < 1:
            raise LlmInputError("max_new_tokens must be >= 1 and given once or per prompt")
        encoded = [self._tokenizer.encode(p) for p in prompts]
        longest = max(len(ids) for ids in encoded)
        if min(len(ids) for ids in encoded) == 0:
            raise LlmInputError("empty prompt")
        if longest + max(limits) > self.info.context_length:
            raise LlmInputError(
                f"prompt of {longest} tokens + {max(limits)} new exceeds the context of {self.info.context_length}"
            )
        schemas: list[str | None] = (
            [json_schema] * batch if json_schema is None or isinstance(json_schema, str) else list(json_schema)
        )
        if len(schemas) != batch:
            raise LlmInputError("json_schema must be given once or per prompt")
        if self.guidance_mode == "off":
            schemas = [None] * batch
        if self.guidance_mode == "native" and batch > 1 and any(s is not None for s in schemas):
            raise LlmInputError("native ORT GenAI guidance supports batch size 1 only (see guidance.py)")
        with self._lock:
            return self._generate(prompts, encoded, longest, limits, schemas, on_token, should_stop)

    def _generate(
        self,
        prompts: Sequence[str],
        encoded: Sequence[Any],
        longest: int,
        limits: Sequence[int],
        schemas: Sequence[str | None],
        on_token: TokenCallback | None,
        should_stop: Callable[[int], bool] | None,
    ) -> list[GenerationResult]:
        og, cfg, batch = self._og, self.config, len(prompts)
        started = time.monotonic_ns()
        params = og.GeneratorParams(self._model)
        params.set_search_options(
            max_length=longest + max(limits),
            batch_size=batch,
            do_sample=cfg.do_sample,
            temperature=cfg.temperature,
            top_k=cfg.top_k,
            top_p=cfg.top_p,
            repetition_penalty=cfg.repetition_penalty,
        )
        constraints: list[SequenceConstraint | None] = [None] * batch
        bitmask = None
        if self.guidance_mode == "native" and schemas[0] is not None:
            params.set_guidance("json_schema", native_schema(schemas[0]))
        elif any(s is not None for s in schemas):
            guide = self.guide()
            try:
                constraints = [guide.constraint(s) if s is not None else None for s in schemas]
            except GuidanceUnavailableError as exc:
                raise LlmInputError(str(exc)) from exc
            bitmask = guide.allocate_bitmask(batch)
        generator = og.Generator(self._model, params)
        generator.append_tokens(self._tokenizer.encode_batch(list(prompts)) if batch > 1 else encoded[0])

        eos = set(self.info.eos_token_ids)
        tokens: list[list[int]] = [[] for _ in range(batch)]
        reasons: list[FinishReason | None] = [None] * batch
        errors: list[str | None] = [None] * batch
        first: list[int | None] = [None] * batch
        finished: list[int] = [started] * batch
        streams = [self._tokenizer.create_stream() for _ in range(batch)] if on_token else []

        def finish(row: int, reason: FinishReason, now: int) -> None:
            reasons[row] = reason
            finished[row] = now

        while any(r is None for r in reasons) and not generator.is_done():
            if bitmask is not None:
                for row in range(batch):
                    constraint = constraints[row]
                    if reasons[row] is not None:  # finished rows idle on EOS until the longest is done
                        eos_only_row(bitmask[row], self.info.eos_token_ids[0])
                    elif constraint is not None:
                        constraint.fill_mask(bitmask[row])
                    else:
                        bitmask[row] = -1  # a free row in a guided batch
                logits = np.array(generator.get_logits(), dtype=np.float32, copy=True)
                flat = logits.reshape(batch, -1)
                apply_bitmask(flat, bitmask)
                generator.set_logits(flat.reshape(logits.shape))
            generator.generate_next_token()
            now = time.monotonic_ns()
            next_tokens = generator.get_next_tokens()
            for row in range(batch):
                if reasons[row] is not None:
                    continue
                token = int(next_tokens[row])
                if first[row] is None:
                    first[row] = now
                if token in eos:
                    finish(row, "eos", now)
                    continue
                tokens[row].append(token)
                if on_token is not None:
                    piece = streams[row].decode(token)
                    if piece:
                        on_token(row, piece)
                constraint = constraints[row]
                if constraint is not None:
                    if not constraint.consume(token):
                        errors[row] = constraint.error
                        finish(row, "grammar_error", now)
                        continue
                    if constraint.complete:
                        finish(row, "eos", now)
                        continue
                if len(tokens[row]) >= limits[row]:
                    finish(row, "length", now)
                elif should_stop is not None and should_stop(row):
                    finish(row, "cancelled", now)
        now = time.monotonic_ns()
        return [
            GenerationResult(
                text=self.decode(tokens[row]),
                token_ids=tuple(tokens[row]),
                prompt_tokens=len(encoded[row]),
                finish_reason=reasons[row] or "length",
                started_ns=started,
                first_token_ns=first[row],
                done_ns=finished[row] if reasons[row] is not None else now,
                error=errors[row],
            )
            for row in range(batch)
        ]
