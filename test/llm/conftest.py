"""Session fixtures for the LLM tests: one tiny random Llama built through the real builder path."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_llm_ros.llm.advisory import AdvisorySchema
from edge_llm_ros.llm.engine import LlmEngine, LlmEngineConfig


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per session (~20 s, mostly the builder importing torch and transformers)."""
    pytest.importorskip("onnxruntime_genai")
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from edge_llm_ros.llm.builder import build_tiny_test_model

    return build_tiny_test_model(tmp_path_factory.mktemp("llm") / "tiny")


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir: Path) -> LlmEngine:
    """The tiny model with llguidance-driven guidance when available (auto)."""
    return LlmEngine(LlmEngineConfig(tiny_model_dir, intra_op_threads=1))


@pytest.fixture(scope="session")
def unguided_engine(tiny_model_dir: Path) -> LlmEngine:
    """The tiny model with guidance off: its random output is the invalid case."""
    return LlmEngine(LlmEngineConfig(tiny_model_dir, intra_op_threads=1, guidance="off"))


@pytest.fixture(scope="session")
def advisory_schema() -> AdvisorySchema:
    return AdvisorySchema.load()


@pytest.fixture(scope="session")
def traffic_schema(advisory_schema: AdvisorySchema) -> AdvisorySchema:
    """Narrowed as the decision node would for a traffic scene with tracks 3, 7 and 12."""
    return advisory_schema.narrowed(actions=("CONTINUE", "SLOW_DOWN", "BRAKE"), object_ids=(3, 7, 12))
