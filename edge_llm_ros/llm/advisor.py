"""SceneAdvisor: scene summary in, validated advisory out, through the batched LLM. For the node.

Ties the pieces together the way the LLM inference node and the decision node need them:
configure = load the model folder + warm up (LlmConfigError naming the problem otherwise);
`advise(scene)` renders the prompt from the scene template, narrows the advisory schema to the
scene's actions and object ids, and queues a structured request with the scene's stamp and a
deadline; validated advisories come back through a callback as AdvisoryRecord, ready to publish
as JSON (std_msgs/String) linked to the decision by `stamp_ns`. Drops (deadline, invalid output,
overflow) are counted by the batcher and reported through `on_drop`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_llm_ros.llm.advisory import Advisory, AdvisorySchema
from edge_llm_ros.llm.batcher import LlmBatcher, LlmBatcherConfig, LlmRequest, LlmResult
from edge_llm_ros.llm.engine import GuidanceMode, LlmConfigError, LlmEngine, LlmEngineConfig
from edge_llm_ros.llm.prompt import (
    DEFAULT_OBJECT_TEMPLATE,
    DEFAULT_SYSTEM_PROMPT,
    DEFAULT_TEMPLATE,
    PromptBuilder,
    SceneSummary,
)

RECORD_SCHEMA = "edge_llm_ros/advisory_record/1"


@dataclass(frozen=True)
class AdvisorConfig:
    """Everything the LLM node's parameters set. `schema_path` None: the shipped schema."""

    model_dir: Path
    execution_provider: str = "cpu"
    provider_options: Mapping[str, str] = field(default_factory=dict)
    intra_op_threads: int = 1
    guidance: GuidanceMode = "auto"
    template: str = DEFAULT_TEMPLATE
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    object_template: str = DEFAULT_OBJECT_TEMPLATE
    max_objects: int = 8
    # Every explanation character is decode time (~3-4 chars/token): 120 keeps SmolLM2's
    # advisories near 60 tokens; the shipped schema allows up to 200.
    max_explanation_chars: int = 120
    schema_path: Path | None = None
    batcher: LlmBatcherConfig = field(default_factory=LlmBatcherConfig)
    warmup: bool = True


@dataclass(frozen=True)
class AdvisoryRecord:
    """A published advisory: the validated advice, which frame it is about, how long it took."""

    stamp_ns: int
    scene: str
    advisory: Advisory
    model: str
    latency_s: float
    time_to_first_token_s: float | None
    generated_tokens: int
    batch_size: int
    schema: str = RECORD_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "schema": self.schema,
            "stamp_ns": self.stamp_ns,
            "scene": self.scene,
            "advisory": self.advisory.to_dict(),
            "model": self.model,
            "latency_s": round(self.latency_s, 6),
            "time_to_first_token_s": None
            if self.time_to_first_token_s is None
            else round(self.time_to_first_token_s, 6),
            "generated_tokens": self.generated_tokens,
            "batch_size": self.batch_size,
        }

    def to_json(self) -> str:
        """Compact JSON, keys sorted."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)


class SceneAdvisor:
    """Loads the model (configure), turns scenes into advisories (active), closes (cleanup)."""

    def __init__(self, config: AdvisorConfig) -> None:
        """Load, check and warm up; LlmConfigError (or ValueError for a bad template) on failure."""
        self.config = config
        try:
            self.schema = AdvisorySchema.load(config.schema_path)
        except (FileNotFoundError, ValueError) as exc:
            raise LlmConfigError(f"advisory schema: {exc}") from exc
        self.engine = LlmEngine(
            LlmEngineConfig(
                Path(config.model_dir),
                execution_provider=config.execution_provider,
                provider_options=config.provider_options,
                intra_op_threads=config.intra_op_threads,
                guidance=config.guidance,
            )
        )
        self.prompts = PromptBuilder(
            config.template,
            system_prompt=config.system_prompt,
            object_template=config.object_template,
            max_objects=config.max_objects,
            chat_format=self.engine.format_chat,
        )
        self.model_name = self.engine.info.model_dir.name
        if config.warmup:
            self.engine.warmup(self.schema.json)
        self.batcher = LlmBatcher(self.engine, config.batcher, name="llm_advisor")

    def schema_for(self, scene: SceneSummary) -> AdvisorySchema:
        """The advisory schema narrowed to this scene's actions and shown object ids."""
        shown = self.prompts.selected_objects(scene)
        return self.schema.narrowed(
            scene.allowed_actions(), [o.object_id for o in shown], self.config.max_explanation_chars
        )

    def advise(
        self,
        scene: SceneSummary,
        on_advisory: Callable[[AdvisoryRecord], None],
        on_drop: Callable[[str], None] | None = None,
        *,
        deadline_ns: int | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> bool:
        """Queue an advisory request for `scene`; False (and on_drop) when it is refused at once.

        `deadline_ns` is time.monotonic_ns()-based; None uses the batcher's deadline_s.
        """
        request = LlmRequest(
            prompt=self.prompts.build(scene),
            schema=self.schema_for(scene),
            stamp_ns=scene.stamp_ns,
            deadline_ns=deadline_ns,
            on_token=on_token,
        )

        def deliver(result: LlmResult) -> None:
            if result.advisory is None:  # cannot happen: structured requests are served validated
                return
            on_advisory(
                AdvisoryRecord(
                    stamp_ns=result.stamp_ns,
                    scene=scene.scene,
                    advisory=result.advisory,
                    model=self.model_name,
                    latency_s=result.latency_s,
                    time_to_first_token_s=result.time_to_first_token_s,
                    generated_tokens=result.generation.generated_tokens,
                    batch_size=result.batch_size,
                )
            )

        return self.batcher.submit(request, deliver, on_drop)

    def stats(self) -> dict[str, object]:
        """The batcher's counters and batch-size histogram."""
        return self.batcher.stats()

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until every queued request is served or dropped."""
        return self.batcher.wait_idle(timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the worker; queued requests are dropped as 'stopped'."""
        self.batcher.close(timeout_s)


def monotonic_deadline(seconds: float) -> int:
    """time.monotonic_ns() + seconds, for `advise(deadline_ns=...)`."""
    return time.monotonic_ns() + int(seconds * 1e9)
