"""Ground truth on `/ground_truth/scene`: std_msgs/String carrying JSON, one per camera frame.

Schema "edge_llm_ros/ground_truth/1". Each message is stamped (record time) exactly like the camera
frame it describes, and `stamp_ns` repeats that stamp. Common fields:

    schema      "edge_llm_ros/ground_truth/1"
    scene       "traffic" | "industrial"
    stamp_ns    int, the camera frame's header stamp
    frame_index int, 0-based camera frame counter
    seed        int, generator seed

Traffic (`scene == "traffic"`), all geometry in radar_link (x forward, y left, z up):

    ego       {"lat", "lon", "alt", "speed_mps", "heading_deg"}   heading: degrees clockwise from north
    objects   one per radar-tracked object, nearest first:
        track_id              32 hex chars, the RadarTrack uuid of this object
        class                 car | truck | motorcycle | bicycle | person | animal
        radar_classification  RadarTrack.classification code (see rules.py)
        position_m, velocity_mps, size_m   true centroid, velocity relative to ego, extents (x, y, z)
        range_m, range_rate_mps            ground-plane range and its rate (sim.rules.range_and_rate)
        ttc_s                 time to collision, null when not closing faster than 0.1 m/s
        in_ego_lane           bool, |y| <= 1.8 m
        warning               NONE | CAUTION | BRAKE for this object, from
                              edge_llm_ros.decision.traffic_rules.object_warning (see sim.rules)
        bbox_xyxy             [x0, y0, x1, y1] pixels, the projected 3-D box clipped to the image,
                              null when the object is not in the camera image
        visible_fraction      share of the unclipped projected box that is visible (truncation by
                              the image border times the unoccluded share of the drawn pixels)
    distractors  photos in the image that are not road users (billboards): {"kind", "image", "bbox_xyxy"}
    warning      scene level: the highest object warning
    warning_track_ids  track_ids of the objects with a warning above NONE

Industrial (`scene == "industrial"`), pixel geometry in the top-down camera image:

    belt_speed_mps  belt speed
    mm_per_px       image scale on the belt plane
    parts   one per part overlapping the image:
        part_id           int, unique per run
        kind              disc | plate
        bbox_xyxy         [x0, y0, x1, y1] clipped to the image
        fully_visible     bool, the whole part is inside the image
        defect            none | scratch | missing_hole | crack | dent | discoloration
        defect_bbox_xyxy  the defect's box (clipped), null for none
        verdict           PASS | REJECT (REJECT iff defect != none)
    rejects  number of REJECT parts in the frame
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

SCHEMA_ID = "edge_llm_ros/ground_truth/1"

_BOX = {
    "oneOf": [
        {"type": "null"},
        {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
    ]
}
_VEC3 = {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}
_LEVEL = {"enum": ["NONE", "CAUTION", "BRAKE"]}

_TRAFFIC_OBJECT = {
    "type": "object",
    "required": [
        "track_id",
        "class",
        "radar_classification",
        "position_m",
        "velocity_mps",
        "size_m",
        "range_m",
        "range_rate_mps",
        "ttc_s",
        "in_ego_lane",
        "warning",
        "bbox_xyxy",
        "visible_fraction",
    ],
    "properties": {
        "track_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "class": {"enum": ["car", "truck", "motorcycle", "bicycle", "person", "animal"]},
        "radar_classification": {"type": "integer"},
        "position_m": _VEC3,
        "velocity_mps": _VEC3,
        "size_m": _VEC3,
        "range_m": {"type": "number", "minimum": 0},
        "range_rate_mps": {"type": "number"},
        "ttc_s": {"oneOf": [{"type": "null"}, {"type": "number", "minimum": 0}]},
        "in_ego_lane": {"type": "boolean"},
        "warning": _LEVEL,
        "bbox_xyxy": _BOX,
        "visible_fraction": {"type": "number", "minimum": 0, "maximum": 1},
    },
}

_PART = {
    "type": "object",
    "required": ["part_id", "kind", "bbox_xyxy", "fully_visible", "defect", "defect_bbox_xyxy", "verdict"],
    "properties": {
        "part_id": {"type": "integer"},
        "kind": {"enum": ["disc", "plate"]},
        "bbox_xyxy": _BOX,
        "fully_visible": {"type": "boolean"},
        "defect": {"enum": ["none", "scratch", "missing_hole", "crack", "dent", "discoloration"]},
        "defect_bbox_xyxy": _BOX,
        "verdict": {"enum": ["PASS", "REJECT"]},
    },
}

GROUND_TRUTH_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["schema", "scene", "stamp_ns", "frame_index", "seed"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "scene": {"enum": ["traffic", "industrial"]},
        "stamp_ns": {"type": "integer"},
        "frame_index": {"type": "integer", "minimum": 0},
        "seed": {"type": "integer"},
    },
    "allOf": [
        {
            "if": {"properties": {"scene": {"const": "traffic"}}},
            "then": {
                "required": ["ego", "objects", "distractors", "warning", "warning_track_ids"],
                "properties": {
                    "ego": {
                        "type": "object",
                        "required": ["lat", "lon", "alt", "speed_mps", "heading_deg"],
                    },
                    "objects": {"type": "array", "items": _TRAFFIC_OBJECT},
                    "distractors": {"type": "array"},
                    "warning": _LEVEL,
                    "warning_track_ids": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        {
            "if": {"properties": {"scene": {"const": "industrial"}}},
            "then": {
                "required": ["parts", "rejects", "belt_speed_mps", "mm_per_px"],
                "properties": {
                    "parts": {"type": "array", "items": _PART},
                    "rejects": {"type": "integer", "minimum": 0},
                },
            },
        },
    ],
}


class GroundTruthError(ValueError):
    """A ground-truth payload that is not valid JSON of the documented schema."""


def validate(doc: dict[str, Any]) -> None:
    """Raise GroundTruthError unless `doc` follows the schema."""
    try:
        jsonschema.validate(doc, GROUND_TRUTH_JSON_SCHEMA)
    except jsonschema.ValidationError as exc:
        raise GroundTruthError(f"ground truth does not follow {SCHEMA_ID}: {exc.message}") from exc


def encode(doc: dict[str, Any]) -> str:
    """Compact, key-sorted JSON (sorted keys keep bags byte-identical for one seed)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)


def parse(text: str, *, check: bool = True) -> dict[str, Any]:
    """Decode one ground-truth message's `data`; validates against the schema unless `check=False`."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GroundTruthError(f"ground truth is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise GroundTruthError("ground truth is not a JSON object")
    if check:
        validate(doc)
    return doc
