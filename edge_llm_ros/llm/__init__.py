"""Edge LLM component: ORT GenAI engine, dynamic batcher, structured advisories, prompts, builder.

Plain Python (no transport). Heavy dependencies load lazily: importing this package needs only
numpy and jsonschema; onnxruntime-genai is imported when an engine is created, torch and
transformers only when a model is built.
"""

from edge_llm_ros.llm.advisor import AdvisorConfig, AdvisoryRecord, SceneAdvisor
from edge_llm_ros.llm.advisory import Advisory, AdvisorySchema, InvalidAdvisoryError, extract_json_object
from edge_llm_ros.llm.batcher import LlmBatcher, LlmBatcherConfig, LlmRequest, LlmResult
from edge_llm_ros.llm.engine import (
    GenerationResult,
    LlmConfigError,
    LlmEngine,
    LlmEngineConfig,
    LlmInputError,
    ModelInfo,
    read_model_info,
)
from edge_llm_ros.llm.prompt import PromptBuilder, SceneObject, SceneSummary

__all__ = [
    "AdvisorConfig",
    "Advisory",
    "AdvisoryRecord",
    "AdvisorySchema",
    "GenerationResult",
    "InvalidAdvisoryError",
    "LlmBatcher",
    "LlmBatcherConfig",
    "LlmConfigError",
    "LlmEngine",
    "LlmEngineConfig",
    "LlmInputError",
    "LlmRequest",
    "LlmResult",
    "ModelInfo",
    "PromptBuilder",
    "SceneAdvisor",
    "SceneObject",
    "SceneSummary",
    "extract_json_object",
    "read_model_info",
]
