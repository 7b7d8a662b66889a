"""The ops service's wire contract: service name, methods, roles, and the JSON message codec.

Messages are JSON objects (UTF-8), serialised by the generic handlers grpcio offers, not protobuf:
the calls are few and small (an operator's command, a status page), an ament_python package has
no protoc step, and a JSON message is readable in the audit log and with any gRPC client that can
send bytes. Unknown request fields are ignored; every response is an object.
"""

from __future__ import annotations

import json
from typing import Any

SERVICE = "edge_llm_ros.ops.v1.Ops"

#: method -> roles allowed to call it.
METHODS: dict[str, frozenset[str]] = {
    "Status": frozenset({"read-only", "operator"}),
    "Logs": frozenset({"read-only", "operator"}),
    "Diagnostics": frozenset({"read-only", "operator"}),
    "Metrics": frozenset({"read-only", "operator"}),
    "Lifecycle": frozenset({"operator"}),
    "Swap": frozenset({"operator"}),
    "BlackBoxDump": frozenset({"operator"}),
}
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def encode(message: dict[str, Any]) -> bytes:
    """A message as compact UTF-8 JSON."""
    return json.dumps(message, separators=(",", ":"), sort_keys=True, default=str).encode()


def decode(data: bytes) -> dict[str, Any]:
    """A JSON object; anything else raises ValueError (the server answers INVALID_ARGUMENT)."""
    value = json.loads(data.decode()) if data else {}
    if not isinstance(value, dict):
        raise ValueError("an ops message must be a JSON object")
    return value


def path(method: str) -> str:
    """The gRPC method path, e.g. /edge_llm_ros.ops.v1.Ops/Status."""
    return f"/{SERVICE}/{method}"
