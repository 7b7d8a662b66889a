from pathlib import Path

import pytest

from edge_llm_ros.runtime.params import (
    ParameterError,
    ParameterSchema,
    ParameterSpec,
    load_params_file,
    params_for_node,
)

SCHEMA = ParameterSchema.of(
    ParameterSpec("rate_hz", "float", 10.0, min=0.1, max=100.0),
    ParameterSpec("mode", "str", "fast", choices=("fast", "safe")),
    ParameterSpec("lane.half_width_m", "float", 1.8, min=0.5),
    ParameterSpec("model", "str", required=True),
    ParameterSpec("offsets", "list[float]", [0.0, 0.0]),
)


def test_defaults_and_overrides() -> None:
    values = SCHEMA.resolve({"model": "roi", "rate_hz": 20, "lane.half_width_m": 2.0}, "n")
    assert values == {"rate_hz": 20.0, "mode": "fast", "lane.half_width_m": 2.0, "model": "roi", "offsets": [0.0, 0.0]}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "required parameter 'model' is missing"),
        ({"model": "m", "rate_hz": 1000.0}, "'rate_hz' = 1000.0 is above its maximum 100.0"),
        ({"model": "m", "rate_hz": "fast"}, "'rate_hz' must be float, got str"),
        ({"model": "m", "mode": "turbo"}, "'mode' must be one of"),
        ({"model": "m", "rat_hz": 3.0}, "unknown parameter(s) ['rat_hz']"),
        ({"model": "m", "offsets": [0.0, "x"]}, "'offsets[1]' must be float"),
        ({"model": "m", "rate_hz": float("nan")}, "must be finite"),
        ({"model": "m", "rate_hz": True}, "got bool"),
    ],
)
def test_bad_parameters_name_the_parameter(overrides: dict, message: str) -> None:
    with pytest.raises(ParameterError) as info:
        SCHEMA.resolve(overrides, "/vehicle/fusion")
    assert message in str(info.value)
    assert "/vehicle/fusion" in str(info.value)


def test_params_file_sections_and_wildcards(tmp_path: Path) -> None:
    path = tmp_path / "scene.yaml"
    path.write_text(
        """
/**:
  ros__parameters:
    use_sim_time: true
fusion:
  ros__parameters:
    rate_hz: 5.0
    lane:
      half_width_m: 2.2
/vehicle/fusion:
  ros__parameters:
    rate_hz: 7.0
other:
  ros__parameters:
    rate_hz: 1.0
"""
    )
    document = load_params_file(path)
    assert params_for_node(document, "fusion", "/vehicle") == {
        "use_sim_time": True,
        "rate_hz": 7.0,
        "lane.half_width_m": 2.2,
    }
    assert params_for_node(document, "fusion") == {"use_sim_time": True, "rate_hz": 5.0, "lane.half_width_m": 2.2}


def test_bad_params_file(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="cannot read"):
        load_params_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("fusion: [unclosed")
    with pytest.raises(ParameterError, match="not valid YAML"):
        load_params_file(bad)
    no_section = tmp_path / "nosec.yaml"
    no_section.write_text("fusion:\n  rate_hz: 3\n")
    with pytest.raises(ParameterError, match="ros__parameters"):
        params_for_node(load_params_file(no_section), "fusion")
