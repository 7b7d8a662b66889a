"""Client of the ops service: mutual TLS with the operator's certificate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc

from edge_llm_ros.ops.remote.protocol import MAX_MESSAGE_BYTES, decode, encode, path


class OpsClient:
    """Calls the ops methods of one device. `server_name` overrides the name checked in its certificate."""

    def __init__(
        self,
        target: str,
        *,
        cert: bytes | None,
        key: bytes | None,
        ca: bytes,
        server_name: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        credentials = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        self.timeout_s = timeout_s
        self._channel = grpc.secure_channel(target, credentials, options=options)

    @classmethod
    def from_files(cls, target: str, cert: Path | None, key: Path | None, ca: Path, **kwargs: Any) -> OpsClient:
        """A client from PEM files."""
        return cls(
            target,
            cert=cert.read_bytes() if cert else None,
            key=key.read_bytes() if key else None,
            ca=ca.read_bytes(),
            **kwargs,
        )

    def call(
        self, method: str, request: dict[str, Any] | None = None, timeout_s: float | None = None
    ) -> dict[str, Any]:
        """Call `method` with a JSON request; raises grpc.RpcError on refusal or failure."""
        stub = self._channel.unary_unary(path(method), request_serializer=None, response_deserializer=None)
        response: bytes = stub(encode(request or {}), timeout=timeout_s or self.timeout_s)
        return decode(response)

    def status(self) -> dict[str, Any]:
        """The device's status."""
        result: dict[str, Any] = self.call("Status")["status"]
        return result

    def logs(self, lines: int = 200, level: str = "INFO") -> list[str]:
        """Recent log lines."""
        return list(self.call("Logs", {"lines": lines, "level": level})["lines"])

    def diagnostics(self) -> list[dict[str, Any]]:
        """Per-instance diagnostics."""
        return list(self.call("Diagnostics")["statuses"])

    def metrics(self) -> str:
        """Prometheus text of the device's manager process."""
        return str(self.call("Metrics")["text"])

    def lifecycle(self, action: str) -> str:
        """Start / stop / reset."""
        return str(self.call("Lifecycle", {"action": action})["message"])

    def swap(self, node: str, model: str) -> dict[str, Any]:
        """Hot-swap a node kind's model."""
        result: dict[str, Any] = self.call("Swap", {"node": node, "model": model}, timeout_s=300.0)["result"]
        return result

    def blackbox_dump(self) -> str:
        """Dump the black box now; the path on the device."""
        return str(self.call("BlackBoxDump", timeout_s=180.0)["path"])

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> OpsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
