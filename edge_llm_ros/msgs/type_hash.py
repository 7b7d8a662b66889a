"""RIHS01 type hashes of *service* types, which rosbags cannot compute itself.

rmw_zenoh puts the service type's hash (REP-2011) in a service's key expression, so a server and
a client only meet when both agree on it. rosidl describes a service `pkg/srv/Name` as a struct with
three fields, `request_message` (`Name_Request`), `response_message` (`Name_Response`) and
`event_message` (`Name_Event`: `service_msgs/ServiceEventInfo info`, `Name_Request[<=1] request`,
`Name_Response[<=1] response`), and hashes it like a message. We build that description from the
Request/Response structs the typestore knows and hash it the way rosidl_generator_type_description
does. Checked against rmw_zenoh's documented example_interfaces/srv/AddTwoInts hash.

Where the Request/Response structs are unknown (rosbags ships no services), callers fall back to a
documented placeholder (see zenoh_bus.service_type_hash).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from rosbags.typesys.base import Nodetype

# type_description_interfaces/msg/FieldType ids.
_BASE_IDS = {
    "nested": 1,
    "int8": 2,
    "uint8": 3,
    "int16": 4,
    "uint16": 5,
    "int32": 6,
    "uint32": 7,
    "int64": 8,
    "uint64": 9,
    "float32": 10,
    "float64": 11,
    "float128": 12,
    # A .msg `char` is an alias of uint8 for rosidl (rosidl_adapter maps it to IDL uint8), so it
    # hashes as UINT8; rosbags would hash it as FIELD_TYPE_CHAR (13) and miss.
    "char": 3,
    "wchar": 14,
    "bool": 15,
    "byte": 16,
    "octet": 16,
    "string": 17,
    "wstring": 18,
    "bounded_string": 21,
    "bounded_wstring": 22,
}
_ARRAY, _BOUNDED_SEQ, _UNBOUNDED_SEQ = 48, 96, 144

FieldDefs = Mapping[str, tuple[Any, list[tuple[str, Any]]]]


def _field(name: str, desc: Any, need: list[str]) -> dict[str, Any]:
    offset = capacity = string_capacity = 0
    if desc[0] == Nodetype.ARRAY:
        offset, (desc, capacity) = _ARRAY, desc[1]
    elif desc[0] == Nodetype.SEQUENCE:
        inner, count = desc[1]
        offset, capacity, desc = (_BOUNDED_SEQ, count, inner) if count else (_UNBOUNDED_SEQ, 0, inner)
    nested = ""
    if desc[0] == Nodetype.NAME:
        tid, nested = _BASE_IDS["nested"], desc[1]
        need.append(nested)
    else:
        base, bound = desc[1]
        if base in ("string", "wstring") and bound:
            tid, string_capacity = _BASE_IDS[f"bounded_{base}"], bound
        else:
            tid = _BASE_IDS[base]
    return {
        "name": name,
        "type": {
            "type_id": tid + offset,
            "capacity": capacity,
            "string_capacity": string_capacity,
            "nested_type_name": nested,
        },
    }


def _struct(typename: str, fielddefs: FieldDefs, need: list[str]) -> dict[str, Any]:
    fields = fielddefs[typename][1] or [("structure_needs_at_least_one_member", (Nodetype.BASE, ("uint8", 0)))]
    return {"type_name": typename, "fields": [_field(n, d, need) for n, d in fields]}


def rihs01(typename: str, fielddefs: FieldDefs) -> str:
    """REP-2011 hash of `typename` described by rosbags-style `fielddefs`."""
    described: dict[str, dict[str, Any]] = {}
    pending = [typename]
    while pending:
        name = pending.pop()
        if name not in described:
            described[name] = _struct(name, fielddefs, pending)
    doc = {
        "type_description": described[typename],
        "referenced_type_descriptions": [described[n] for n in sorted(described) if n != typename],
    }
    # rosidl hashes json.dumps with its default separators, exactly this call.
    return "RIHS01_" + hashlib.sha256(json.dumps(doc).encode()).hexdigest()


def service_rihs01(srvtype: str, fielddefs: FieldDefs) -> str:
    """REP-2011 hash of service `srvtype` ('pkg/srv/Name') from its Request/Response structs.

    Raises KeyError when the typestore lacks `<srvtype>_Request`, `<srvtype>_Response` or
    service_msgs/msg/ServiceEventInfo (Humble has none: it predates type hashes).
    """
    request, response, event = f"{srvtype}_Request", f"{srvtype}_Response", f"{srvtype}_Event"
    for needed in (request, response, "service_msgs/msg/ServiceEventInfo"):
        if needed not in fielddefs:
            raise KeyError(needed)
    defs = dict(fielddefs)
    defs[event] = (
        [],
        [
            ("info", (Nodetype.NAME, "service_msgs/msg/ServiceEventInfo")),
            ("request", (Nodetype.SEQUENCE, ((Nodetype.NAME, request), 1))),
            ("response", (Nodetype.SEQUENCE, ((Nodetype.NAME, response), 1))),
        ],
    )
    defs[srvtype] = (
        [],
        [
            ("request_message", (Nodetype.NAME, request)),
            ("response_message", (Nodetype.NAME, response)),
            ("event_message", (Nodetype.NAME, event)),
        ],
    )
    return rihs01(srvtype, defs)
