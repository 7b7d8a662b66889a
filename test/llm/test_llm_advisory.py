"""Advisory schema, JSON extraction and validation on real strings (no model needed)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from edge_llm_ros.llm.advisory import (
    AdvisorySchema,
    InvalidAdvisoryError,
    extract_json_object,
    find_schema_file,
    iter_json_objects,
)

VALID = {"action": "BRAKE", "risk": "HIGH", "explanation": "pedestrian in ego lane", "objects_of_concern": [3]}


def test_shipped_schema_is_a_valid_versioned_json_schema() -> None:
    schema = json.loads(find_schema_file().read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == "edge_llm_ros/advisory/1"
    assert set(schema["required"]) == {"action", "risk", "explanation", "objects_of_concern"}


def test_extracts_object_from_prose_and_code_fence(advisory_schema: AdvisorySchema) -> None:
    text = "Sure! Here is my advice:\n```json\n" + json.dumps(VALID, indent=2) + "\n```\nStay safe."
    assert extract_json_object(text) == VALID
    advisory = advisory_schema.parse(text)
    assert advisory.action == "BRAKE"
    assert advisory.objects_of_concern == (3,)
    assert advisory.schema_id == "edge_llm_ros/advisory/1"


def test_braces_inside_strings_do_not_confuse_extraction(advisory_schema: AdvisorySchema) -> None:
    tricky = dict(VALID, explanation='object {id 3} said "}" then left')
    assert advisory_schema.parse("x " + json.dumps(tricky) + " y").explanation == tricky["explanation"]


def test_first_valid_object_wins_over_earlier_invalid_one(advisory_schema: AdvisorySchema) -> None:
    text = '{"action": "FLY"} then {"note": 1} and finally ' + json.dumps(VALID)
    assert [o.get("action") for o in iter_json_objects(text)] == ["FLY", None, "BRAKE"]
    assert advisory_schema.parse(text).risk == "HIGH"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no json here at all",
        '{"action": "BRAKE", "risk": "HIGH"',  # truncated
        json.dumps({k: v for k, v in VALID.items() if k != "risk"}),  # missing field
        json.dumps(dict(VALID, action="HONK")),  # not in enum
        json.dumps(dict(VALID, risk="high")),  # enum is case-sensitive
        json.dumps(dict(VALID, explanation="x" * 201)),  # too long
        json.dumps(dict(VALID, explanation="")),  # empty
        json.dumps(dict(VALID, extra=1)),  # additionalProperties
        json.dumps(dict(VALID, objects_of_concern=[True])),  # bool is not an id
        json.dumps(dict(VALID, objects_of_concern=[-1])),  # minimum
    ],
)
def test_invalid_outputs_are_rejected(advisory_schema: AdvisorySchema, text: str) -> None:
    with pytest.raises(InvalidAdvisoryError):
        advisory_schema.parse(text)


def test_repeated_ids_are_removed(advisory_schema: AdvisorySchema) -> None:
    assert advisory_schema.parse(json.dumps(dict(VALID, objects_of_concern=[7, 3, 7]))).objects_of_concern == (7, 3)


def test_object_wrapped_in_an_array_is_still_found(advisory_schema: AdvisorySchema) -> None:
    assert advisory_schema.parse(json.dumps([VALID])).action == "BRAKE"


def test_narrowed_schema_limits_actions_and_ids(traffic_schema: AdvisorySchema) -> None:
    assert traffic_schema.actions == ("CONTINUE", "SLOW_DOWN", "BRAKE")
    traffic_schema.parse(json.dumps(dict(VALID, objects_of_concern=[12, 3])))
    with pytest.raises(InvalidAdvisoryError, match="objects_of_concern"):
        traffic_schema.parse(json.dumps(dict(VALID, objects_of_concern=[4])))  # not in the scene
    with pytest.raises(InvalidAdvisoryError, match="action"):
        traffic_schema.parse(json.dumps(dict(VALID, action="REJECT")))  # an industrial action


def test_narrowed_explanation_length(advisory_schema: AdvisorySchema) -> None:
    short = advisory_schema.narrowed(max_explanation=10)
    short.parse(json.dumps(dict(VALID, explanation="x" * 10)))
    with pytest.raises(InvalidAdvisoryError, match="explanation"):
        short.parse(json.dumps(dict(VALID, explanation="x" * 11)))
    assert advisory_schema.narrowed(max_explanation=500).schema["properties"]["explanation"]["maxLength"] == 200


def test_narrowed_to_an_empty_scene_allows_no_ids(advisory_schema: AdvisorySchema) -> None:
    empty = advisory_schema.narrowed(object_ids=())
    empty.parse(json.dumps(dict(VALID, objects_of_concern=[])))
    with pytest.raises(InvalidAdvisoryError):
        empty.parse(json.dumps(VALID))


def test_narrowing_to_an_unknown_action_fails_at_configure(advisory_schema: AdvisorySchema) -> None:
    with pytest.raises(ValueError, match="HONK"):
        advisory_schema.narrowed(actions=("BRAKE", "HONK"))


def test_advisory_round_trips_to_json(advisory_schema: AdvisorySchema) -> None:
    advisory = advisory_schema.parse(json.dumps(VALID))
    data = json.loads(advisory.to_json())
    assert data == dict(VALID, schema_id="edge_llm_ros/advisory/1")
