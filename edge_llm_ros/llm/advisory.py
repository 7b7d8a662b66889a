"""The structured advisory: JSON that must validate against config/advisory.schema.json.

The LLM's text is searched for JSON objects (it may wrap them in prose or code fences); the first
one that validates wins. Anything else is an InvalidAdvisoryError, which the batcher drops and counts:
an unvalidated advisory is never returned. The schema is narrowed per prompt (the scene's actions,
the ids of the objects actually in the scene) and the narrowed schema both guides decoding and
validates the result, so a hallucinated track id is rejected, or with guidance never produced.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema

from edge_llm_ros.config_files import find_config

SCHEMA_FILE = "advisory.schema.json"
SCHEMA_ENV = "EDGE_LLM_ROS_ADVISORY_SCHEMA"
MAX_SCAN_CHARS = 8192  # longer outputs are cut before searching: bounded work per reply


class InvalidAdvisoryError(ValueError):
    """The LLM output holds no JSON object that validates against the advisory schema."""


@dataclass(frozen=True)
class Advisory:
    """A validated advisory. `schema_id` names the schema version it was validated against."""

    action: str
    risk: str
    explanation: str
    objects_of_concern: tuple[int, ...]
    schema_id: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (objects_of_concern as a list), including schema_id."""
        data = asdict(self)
        data["objects_of_concern"] = list(self.objects_of_concern)
        return data

    def to_json(self) -> str:
        """Compact JSON, keys sorted."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)


def find_schema_file() -> Path:
    """Locate advisory.schema.json: $EDGE_LLM_ROS_ADVISORY_SCHEMA, else the shipped config/ (see config_files)."""
    if os.environ.get(SCHEMA_ENV):
        return Path(os.environ[SCHEMA_ENV])
    return find_config(SCHEMA_FILE)


def iter_json_objects(text: str) -> Iterator[dict[str, Any]]:
    """Every JSON object embedded in `text`, in order of its opening brace (nested ones skipped)."""
    decoder = json.JSONDecoder()
    text = text[:MAX_SCAN_CHARS]
    index = text.find("{")
    while index != -1:
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            index = text.find("{", index + 1)
            continue
        if isinstance(value, dict):
            yield value
        index = text.find("{", end)


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in `text`, or None."""
    return next(iter_json_objects(text), None)


class AdvisorySchema:
    """A (possibly narrowed) advisory schema: its JSON text for guided decoding and a validator."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"advisory schema is not a valid JSON Schema: {exc.message}") from exc
        self.schema: dict[str, Any] = copy.deepcopy(dict(schema))
        self._validator = jsonschema.Draft202012Validator(self.schema)

    @classmethod
    def load(cls, path: Path | None = None) -> AdvisorySchema:
        """Load from `path` or from find_schema_file()."""
        source = Path(path) if path is not None else find_schema_file()
        try:
            return cls(json.loads(source.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read advisory schema {source}: {exc}") from exc

    @property
    def schema_id(self) -> str:
        """The schema's $id (its name and version)."""
        return str(self.schema.get("$id", "advisory"))

    @cached_property
    def json(self) -> str:
        """Compact JSON text of the schema, as guided decoding takes it (cache key too).

        Key order is kept: the grammar emits properties in schema order (action, risk, ...).
        """
        return json.dumps(self.schema, separators=(",", ":"))

    @property
    def actions(self) -> tuple[str, ...]:
        """The actions this schema allows."""
        return tuple(self.schema["properties"]["action"]["enum"])

    def narrowed(
        self,
        actions: Sequence[str] | None = None,
        object_ids: Sequence[int] | None = None,
        max_explanation: int | None = None,
    ) -> AdvisorySchema:
        """A copy narrowed to a scene.

        Allows only `actions`, only the given object ids, and at most `max_explanation`
        characters of explanation (None: leave that one as is). Every narrowed advisory is
        still valid under the base schema.
        ValueError if an action is not in this schema (a scene YAML naming an unknown action).
        """
        schema = copy.deepcopy(self.schema)
        props = schema["properties"]
        if actions is not None:
            unknown = [a for a in actions if a not in self.actions]
            if unknown or not actions:
                raise ValueError(f"actions {unknown or list(actions)} not allowed by {self.schema_id}: {self.actions}")
            props["action"]["enum"] = list(dict.fromkeys(actions))
        if max_explanation is not None:
            base_max = int(props["explanation"].get("maxLength", max_explanation))
            props["explanation"]["maxLength"] = max(1, min(base_max, max_explanation))
        if object_ids is not None:
            ids = sorted({int(i) for i in object_ids})
            ooc = props["objects_of_concern"]
            ooc["maxItems"] = min(int(ooc.get("maxItems", len(ids))), len(ids))
            if ids:
                ooc["items"] = {**ooc.get("items", {}), "enum": ids}
        return AdvisorySchema(schema)

    def errors(self, value: Any) -> list[str]:
        """Validation error messages for `value` (empty when valid)."""
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in self._validator.iter_errors(value)
        ]

    def parse(self, text: str) -> Advisory:
        """The first embedded JSON object that validates, as an Advisory; InvalidAdvisoryError otherwise."""
        first_errors: list[str] | None = None
        for candidate in iter_json_objects(text):
            problems = self.errors(candidate)
            if not problems:
                return Advisory(
                    action=candidate["action"],
                    risk=candidate["risk"],
                    explanation=candidate["explanation"],
                    objects_of_concern=tuple(dict.fromkeys(candidate["objects_of_concern"])),
                    schema_id=self.schema_id,
                )
            if first_errors is None:
                first_errors = problems
        if first_errors is None:
            raise InvalidAdvisoryError("no JSON object in the output")
        raise InvalidAdvisoryError("; ".join(first_errors[:3]))
