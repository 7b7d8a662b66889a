"""LlmEngine on a real (tiny, random) ORT GenAI model built by the builder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_llm_ros.llm.advisory import AdvisorySchema, InvalidAdvisoryError
from edge_llm_ros.llm.engine import (
    LlmConfigError,
    LlmEngine,
    LlmEngineConfig,
    LlmInputError,
    import_backend,
    read_model_info,
)
from edge_llm_ros.llm.golden import GOLDEN_FILE, golden_agreement
from edge_llm_ros.models import GoldenSet, Manifest, ModelRef, ModelStore, Sha256MismatchError
from edge_llm_ros.models.manifest import MANIFEST_FILE

PROMPTS = ["Scene: traffic.", "Scene: industrial. Objects: part 7 scratch, part 9 ok.", "hi"]


def test_builder_writes_a_model_store_manifest(tiny_model_dir: Path, tmp_path: Path) -> None:
    manifest = Manifest.load(tiny_model_dir)
    assert manifest.kind == "llm" and manifest.license == "Apache-2.0"
    assert manifest.model_file == "model.onnx"
    on_disk = {p.name for p in tiny_model_dir.iterdir() if p.is_file() and p.name != MANIFEST_FILE}
    assert {f.path for f in manifest.files} == on_disk
    assert {"genai_config.json", "model.onnx", "model.onnx.data", "tokenizer.json", "golden.npz"} <= on_disk
    assert "input_ids" in {t.name for t in manifest.inputs} and "logits" in {t.name for t in manifest.outputs}
    assert manifest.provenance.tools["onnxruntime-genai"]
    ModelRef(manifest, tiny_model_dir).verify()  # every sha256 matches
    ref = ModelStore(tmp_path / "store").add(tiny_model_dir)
    assert ref.model_id == "tiny-llama-test@seed0"
    (ref.directory / "tokenizer.json").write_text("{}")
    with pytest.raises(Sha256MismatchError):
        ref.verify()


def test_golden_set_reproduces_the_measured_agreement(tiny_model_dir: Path, tiny_engine: LlmEngine) -> None:
    manifest = Manifest.load(tiny_model_dir)
    golden = GoldenSet.load(tiny_model_dir / GOLDEN_FILE)
    assert manifest.golden is not None and golden.count == manifest.golden.count
    measured = golden_agreement(
        tiny_engine, golden.inputs["input_ids"], golden.reference["prompt_tokens"], golden.reference["top1"]
    )
    assert measured == pytest.approx(manifest.accuracy.measured["golden_top1_agreement_vs_fp32"])


def test_model_info_comes_from_genai_config(tiny_model_dir: Path, tiny_engine: LlmEngine) -> None:
    config = json.loads((tiny_model_dir / "genai_config.json").read_text())["model"]
    info = tiny_engine.info
    assert info.context_length == config["context_length"]
    assert info.vocab_size == config["vocab_size"]
    assert info.eos_token_ids == (config["eos_token_id"],)
    assert info.num_hidden_layers == 2


def test_batch_generation_respects_per_row_limits(tiny_engine: LlmEngine) -> None:
    results = tiny_engine.generate_batch(PROMPTS, [5, 9, 1])
    assert len(results) == 3
    for result, limit, prompt in zip(results, [5, 9, 1], PROMPTS, strict=True):
        assert result.generated_tokens <= limit
        assert result.finish_reason in ("eos", "length")
        assert result.prompt_tokens == tiny_engine.count_tokens(prompt)
        assert result.first_token_ns is not None and result.started_ns <= result.first_token_ns <= result.done_ns


def test_left_padding_is_handled_by_the_library(tiny_model_dir: Path) -> None:
    """A padded row of a batch sees the same next-token logits as the prompt alone."""
    og = pytest.importorskip("onnxruntime_genai")
    model = og.Model(str(tiny_model_dir))
    tokenizer = og.Tokenizer(model)

    def next_logits(prompts: list[str]) -> np.ndarray:
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=64, batch_size=len(prompts))
        generator = og.Generator(model, params)
        generator.append_tokens(tokenizer.encode_batch(prompts))
        return np.asarray(generator.get_logits()).reshape(len(prompts), -1)

    batched = next_logits(PROMPTS)
    for row, prompt in enumerate(PROMPTS):
        np.testing.assert_allclose(batched[row], next_logits([prompt])[0], atol=1e-3)


def test_streaming_pieces_add_up_to_the_text(tiny_engine: LlmEngine) -> None:
    pieces: dict[int, list[str]] = {0: [], 1: []}
    results = tiny_engine.generate_batch(PROMPTS[:2], 12, on_token=lambda row, piece: pieces[row].append(piece))
    for row, result in enumerate(results):
        assert "".join(pieces[row]) == result.text


def test_should_stop_cancels_one_row(tiny_engine: LlmEngine) -> None:
    seen = {"n": 0}

    def stop_row0(row: int) -> bool:
        seen["n"] += row == 0
        return row == 0 and seen["n"] >= 3

    results = tiny_engine.generate_batch(PROMPTS[:2], 20, should_stop=stop_row0)
    assert results[0].finish_reason == "cancelled" and results[0].generated_tokens == 3
    assert results[1].finish_reason in ("eos", "length")


def test_prompt_longer_than_context_is_an_input_error(tiny_engine: LlmEngine) -> None:
    with pytest.raises(LlmInputError, match="context"):
        tiny_engine.generate_batch(["hi"], tiny_engine.info.context_length)


def test_chat_template_from_the_model_folder_is_applied(tiny_engine: LlmEngine) -> None:
    prompt = tiny_engine.format_chat([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])
    assert prompt == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"


def test_random_model_output_is_invalid_without_guidance(
    unguided_engine: LlmEngine, traffic_schema: AdvisorySchema
) -> None:
    prompt = unguided_engine.format_chat([{"role": "user", "content": "Reply with JSON."}])
    result = unguided_engine.generate_batch([prompt], 48, json_schema=traffic_schema.json)[0]
    with pytest.raises(InvalidAdvisoryError):
        traffic_schema.parse(result.text)


@pytest.mark.parametrize("guidance", ["llguidance", "native"])
def test_guided_output_of_a_random_model_validates(
    tiny_model_dir: Path, traffic_schema: AdvisorySchema, guidance: str
) -> None:
    if guidance == "llguidance":
        pytest.importorskip("llguidance")
    engine = LlmEngine(LlmEngineConfig(tiny_model_dir, guidance=guidance))  # type: ignore[arg-type]
    prompts = [engine.format_chat([{"role": "user", "content": p}]) for p in PROMPTS]
    if guidance == "native":
        prompts = prompts[:1]  # ORT GenAI's own guidance: batch 1 only (see guidance.py)
    results = engine.generate_batch(prompts, 400, json_schema=traffic_schema.json)
    for result in results:
        assert result.finish_reason == "eos", result.text
        advisory = traffic_schema.parse(result.text)
        assert advisory.action in traffic_schema.actions
        assert set(advisory.objects_of_concern) <= {3, 7, 12}


def test_native_guidance_refuses_a_batch(tiny_model_dir: Path, traffic_schema: AdvisorySchema) -> None:
    engine = LlmEngine(LlmEngineConfig(tiny_model_dir, guidance="native"))
    assert engine.max_guided_batch == 1
    with pytest.raises(LlmInputError, match="batch size 1"):
        engine.generate_batch(["a", "b"], 4, json_schema=traffic_schema.json)


# ---------------------------------------------------------------------------- configuration errors
def test_missing_backend_is_a_config_error() -> None:
    with pytest.raises(LlmConfigError, match="pip install onnxruntime-genai"):
        import_backend("onnxruntime_genai_not_installed_here")


def test_missing_model_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(LlmConfigError, match="does not exist"):
        LlmEngine(LlmEngineConfig(tmp_path / "nope"))
    with pytest.raises(LlmConfigError, match=r"no genai_config\.json"):
        LlmEngine(LlmEngineConfig(tmp_path))


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(model_dir, target)
    return target


def test_broken_genai_config_is_a_config_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    broken = _copy(tiny_model_dir, tmp_path)
    (broken / "genai_config.json").write_text('{"model": {"type": "llama",')
    with pytest.raises(LlmConfigError, match="not valid JSON"):
        LlmEngine(LlmEngineConfig(broken))


def test_genai_config_missing_a_field_names_it(tiny_model_dir: Path, tmp_path: Path) -> None:
    broken = _copy(tiny_model_dir, tmp_path)
    config = json.loads((broken / "genai_config.json").read_text())
    del config["model"]["context_length"]
    (broken / "genai_config.json").write_text(json.dumps(config))
    with pytest.raises(LlmConfigError, match=r"model\.context_length"):
        read_model_info(broken)


def test_missing_decoder_file_is_a_config_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    broken = _copy(tiny_model_dir, tmp_path)
    (broken / "model.onnx").unlink()
    with pytest.raises(LlmConfigError, match=r"decoder file model.onnx .* is missing"):
        LlmEngine(LlmEngineConfig(broken))


def test_corrupt_onnx_is_a_config_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    broken = _copy(tiny_model_dir, tmp_path)
    (broken / "model.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(LlmConfigError, match="could not load"):
        LlmEngine(LlmEngineConfig(broken))


def test_unknown_execution_provider_is_a_config_error(tiny_model_dir: Path) -> None:
    with pytest.raises(LlmConfigError, match="NoSuchEP"):
        LlmEngine(LlmEngineConfig(tiny_model_dir, execution_provider="NoSuchEP"))
