"""Golden check for LLM model folders: teacher-forced top-1 agreement with an FP32 reference.

At build time the reference (transformers, FP32, the same weights before ORT conversion) greedily
continues a fixed set of scene prompts; the golden file stores the prompt tokens and those
reference tokens. A candidate model (the freshly built int4 one, or a hot-swap replacement) is fed
the same tokens and must pick the same next token at each step often enough:
agreement >= 1 - max_drop from its manifest's accuracy gate.

Golden .npz layout (edge_llm_ros.models.golden.GoldenSet, no pickle):
    input.input_ids          int32 [N, P]  prompts, left-padded with the model's pad id
    reference.prompt_tokens  int32 [N]     real prompt length of each row
    reference.top1           int32 [N, K]  the FP32 reference's greedy continuation
    expected.top1            int32 [N, K]  this model's teacher-forced choices when it was built
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge_llm_ros.llm.engine import LlmEngine
from edge_llm_ros.llm.prompt import PromptBuilder, SceneObject, SceneSummary

GOLDEN_FILE = "golden.npz"
GOLDEN_TOKENS = 16
# The gate's metric name in the model manifest: token-level top-1 agreement.
GATE_METRIC = "top1_agreement"


def golden_scenes() -> tuple[SceneSummary, ...]:
    """Fixed scenes covering both shipped scene types, empty and crowded."""
    return (
        SceneSummary(
            "traffic",
            13.9,
            (
                SceneObject(3, "person", 14.0, 1.6, "ego"),
                SceneObject(7, "car", 32.0, 5.5, "adjacent"),
            ),
        ),
        SceneSummary("traffic", 8.3, (SceneObject(12, "truck", 22.0, 2.4, "ego"),)),
        SceneSummary("traffic", 25.0, ()),
        SceneSummary(
            "traffic",
            5.0,
            (
                SceneObject(21, "bicycle", 6.0, 1.1, "ego"),
                SceneObject(22, "bus", 40.0, None, "adjacent"),
                SceneObject(23, "person", 9.5, 3.0, "unknown"),
            ),
        ),
        SceneSummary("industrial", None, (SceneObject(5, "scratch", 0.4, None, None),)),
        SceneSummary("industrial", 0.3, (SceneObject(9, "ok", 0.6, None, None), SceneObject(10, "dent", 0.9))),
    )


def golden_prompt_ids(engine: LlmEngine) -> list[np.ndarray]:
    """Token ids of the golden scene prompts, as the default PromptBuilder renders them."""
    builder = PromptBuilder(chat_format=engine.format_chat)
    return [engine.encode(builder.build(scene)) for scene in golden_scenes()]


def pack_prompts(prompt_ids: Sequence[np.ndarray], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Left-pad prompts into one int32 [N, P] array; returns it and the lengths."""
    lengths = np.array([len(p) for p in prompt_ids], dtype=np.int32)
    packed = np.full((len(prompt_ids), int(lengths.max())), pad_id, dtype=np.int32)
    for row, ids in enumerate(prompt_ids):
        packed[row, packed.shape[1] - len(ids) :] = ids
    return packed, lengths


def unpack_prompts(packed: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    """Inverse of pack_prompts."""
    return [packed[row, packed.shape[1] - int(n) :] for row, n in enumerate(lengths)]


def teacher_forced(engine: LlmEngine, prompt_ids: Sequence[np.ndarray], reference_top1: np.ndarray) -> np.ndarray:
    """The engine's teacher-forced top-1 choices, int32 [N, K]."""
    return np.stack(
        [engine.teacher_forced_top1(ids, targets) for ids, targets in zip(prompt_ids, reference_top1, strict=True)]
    )


def agreement(candidate_top1: np.ndarray, reference_top1: np.ndarray) -> float:
    """Fraction of positions where the candidate picks the reference's token."""
    return float(np.mean(candidate_top1 == reference_top1))


def golden_agreement(engine: LlmEngine, input_ids: np.ndarray, prompt_tokens: np.ndarray, top1: np.ndarray) -> float:
    """Agreement of `engine` on a golden set's arrays (input.input_ids, reference.prompt_tokens/top1)."""
    return agreement(teacher_forced(engine, unpack_prompts(input_ids, prompt_tokens), top1), top1)
