"""PromptBuilder: template rendering, ordering, template checks, chat formatting."""

from __future__ import annotations

import math

import pytest

from edge_llm_ros.llm.engine import LlmEngine
from edge_llm_ros.llm.prompt import PromptBuilder, SceneObject, SceneSummary, plain_chat

SCENE = SceneSummary(
    scene="traffic",
    ego_speed_mps=12.5,
    objects=(
        SceneObject(7, "car", range_m=40.0, ttc_s=None, lane="adjacent"),
        SceneObject(3, "person", range_m=14.0, ttc_s=2.1, lane="ego"),
        SceneObject(12, "truck", range_m=25.0, ttc_s=6.0, lane="ego"),
        SceneObject(9, "bicycle", range_m=math.nan, ttc_s=-1.0),
    ),
    stamp_ns=123,
)


def test_default_template_renders_a_compact_scene() -> None:
    text = PromptBuilder().user_message(SCENE)
    assert "Scene: traffic. Ego speed: 12.5 m/s. Objects (4):" in text
    assert "- id 3: person, range 14.0 m, TTC 2.1 s, lane ego" in text
    assert "- id 9: bicycle, range unknown m, TTC -1.0 s, lane unknown" in text
    assert "(CONTINUE | SLOW_DOWN | BRAKE)" in text


def test_most_urgent_objects_first_and_capped() -> None:
    builder = PromptBuilder(max_objects=2)
    assert [o.object_id for o in builder.selected_objects(SCENE)] == [3, 12]
    assert "(+2 farther objects)" in builder.user_message(SCENE)


def test_template_from_scene_yaml_with_json_braces_needs_no_escaping() -> None:
    builder = PromptBuilder('$scene at $ego_speed_kmh km/h; $n_objects objects. Reply {"action": ...}')
    assert builder.user_message(SCENE) == 'traffic at 45 km/h; 4 objects. Reply {"action": ...}'


def test_unknown_placeholder_fails_at_configure_naming_it() -> None:
    with pytest.raises(ValueError, match="weather"):
        PromptBuilder("Scene $scene in $weather")
    with pytest.raises(ValueError, match="speed"):
        PromptBuilder(object_template="$id $speed")


def test_empty_scene_and_unknown_speed() -> None:
    text = PromptBuilder().user_message(SceneSummary("industrial", None))
    assert "Ego speed: unknown m/s" in text and "none" in text and "(PASS | REJECT)" in text


def test_plain_chat_format_is_documented_shape() -> None:
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    assert plain_chat(messages) == "System: S\nUser: U\nAssistant:"
    assert PromptBuilder(system_prompt="S").build(SCENE).startswith("System: S\nUser: Scene: traffic.")


def test_build_uses_the_models_chat_template(tiny_engine: LlmEngine) -> None:
    prompt = PromptBuilder(chat_format=tiny_engine.format_chat).build(SCENE)
    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_start|>assistant\n")
    assert "person, range 14.0 m" in prompt
