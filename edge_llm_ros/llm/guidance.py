"""JSON-schema constrained decoding for batched generation, one grammar matcher per sequence.

ORT GenAI embeds llguidance and exposes it as `GeneratorParams.set_guidance("json_schema", ...)`,
but in onnxruntime-genai 0.18 that path breaks a batch as soon as one sequence completes its
grammar before the others ("compute_mask() called after stop" on the next step): a finished row
keeps being masked. So for batches we drive the same grammar engine (the `llguidance` Python
package) ourselves: each row has its own matcher, the engine masks the logits it reads with
`Generator.get_logits()` and writes them back with `set_logits()`; a row whose grammar is
complete is forced to EOS. The native path remains available for batch size 1.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# Compact JSON: no free whitespace between tokens, which small models otherwise fill with
# newlines until max_new_tokens runs out. Lenient: keywords llguidance does not implement (e.g.
# uniqueItems) are left to the jsonschema validation that every output goes through anyway.
JSON_COMPILE_OVERRIDES: Any = {"whitespace_flexible": False, "lenient": True}


class GuidanceUnavailableError(RuntimeError):
    """The llguidance package is missing or cannot handle this tokenizer / schema."""


def llguidance_available() -> bool:
    """True when the `llguidance` package can be imported."""
    try:
        import llguidance  # noqa: F401
    except ImportError:
        return False
    return True


def native_schema(json_schema: str) -> str:
    """The schema with the same compile options embedded, for ORT GenAI's own guidance."""
    schema = json.loads(json_schema)
    schema["x-guidance"] = {**schema.get("x-guidance", {}), **JSON_COMPILE_OVERRIDES}
    return json.dumps(schema)


class SequenceConstraint:
    """One sequence's grammar state: fills its row of the token bitmask, consumes sampled tokens."""

    def __init__(self, matcher: Any) -> None:
        self._matcher = matcher

    def fill_mask(self, row: npt.NDArray[np.int32]) -> None:
        """Write the allowed-token bits for the next step into `row` (a C-contiguous int32 row)."""
        self._matcher.unsafe_compute_mask_ptr(row.ctypes.data, row.size * row.itemsize)

    def consume(self, token: int) -> bool:
        """Advance by one sampled token; False puts the constraint in its error state."""
        return bool(self._matcher.consume_token(int(token)))

    @property
    def complete(self) -> bool:
        """The grammar is satisfied and admits no further token (only EOS)."""
        return bool(self._matcher.is_stopped()) and not self._matcher.is_error()

    @property
    def error(self) -> str | None:
        """The matcher's error message, or None."""
        return str(self._matcher.get_error()) if self._matcher.is_error() else None


class GrammarGuide:
    """Compiles JSON schemas for one model's tokenizer and hands out per-sequence constraints.

    Building the llguidance tokenizer walks the whole vocabulary (about a second for 49k tokens),
    so it happens once per engine; compiled grammars are cached per schema string.
    """

    def __init__(self, tokenizer_json: Path, vocab_size: int, eos_token_ids: Sequence[int]) -> None:
        try:
            import llguidance
        except ImportError as exc:
            raise GuidanceUnavailableError("llguidance is not installed: `pip install llguidance`") from exc
        self._llg = llguidance
        try:
            text = Path(tokenizer_json).read_text(encoding="utf-8")
            self._tokenizer = llguidance.LLTokenizer(text, n_vocab=vocab_size, eos_token=list(eos_token_ids))
        except Exception as exc:  # llguidance raises plain exceptions for tokenizers it cannot model
            raise GuidanceUnavailableError(f"llguidance cannot use {tokenizer_json}: {exc}") from exc
        self.vocab_size = vocab_size
        self._grammars: dict[str, str] = {}
        self._lock = threading.Lock()

    def constraint(self, json_schema: str) -> SequenceConstraint:
        """A fresh constraint for `json_schema` (a JSON string); GuidanceUnavailableError if it does not compile."""
        with self._lock:
            grammar = self._grammars.get(json_schema)
            if grammar is None:
                try:
                    grammar = self._llg.LLMatcher.grammar_from_json_schema(
                        json_schema, overrides=JSON_COMPILE_OVERRIDES
                    )
                except ValueError as exc:
                    raise GuidanceUnavailableError(f"not a JSON schema: {exc}") from exc
                self._grammars[json_schema] = grammar
        matcher = self._llg.LLMatcher(self._tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise GuidanceUnavailableError(f"schema does not compile to a grammar: {matcher.get_error()}")
        return SequenceConstraint(matcher)

    def allocate_bitmask(self, batch_size: int) -> npt.NDArray[np.int32]:
        """A zeroed (batch, ceil(vocab/32)) int32 bitmask."""
        return np.zeros((batch_size, (self.vocab_size + 31) // 32), dtype=np.int32)


def apply_bitmask(logits: npt.NDArray[np.float32], bitmask: npt.NDArray[np.int32]) -> None:
    """Set every logit whose bit is 0 to the lowest float, in place. logits: (batch, vocab)."""
    vocab = logits.shape[-1]
    allowed = np.unpackbits(bitmask.view(np.uint8), axis=1, bitorder="little")[:, :vocab].astype(bool)
    logits[~allowed] = np.finfo(np.float32).min


def eos_only_row(row: npt.NDArray[np.int32], eos_token_id: int) -> None:
    """Fill a bitmask row that allows only `eos_token_id`."""
    row[:] = 0
    row[eos_token_id // 32] = np.int32(np.uint32(1 << (eos_token_id % 32)).view(np.int32))
