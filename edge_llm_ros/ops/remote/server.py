"""The ops gRPC server: mutual TLS only, roles from the client certificate, every call audited.

TLS refuses a client without a certificate, with one from another CA, or with an expired one
during the handshake, before any handler runs (grpc-core logs those). A verified client's role
comes from its certificate's SAN URI (see certs.py); a call its role does not allow is answered
PERMISSION_DENIED. Every call that reaches the service, allowed or not, is one JSON line in the
audit log: time, peer, client CN and role, method, arguments, outcome.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

from edge_llm_ros.ops.remote.backend import NotPossibleError, OpsBackend
from edge_llm_ros.ops.remote.certs import common_name_of, role_of
from edge_llm_ros.ops.remote.protocol import MAX_MESSAGE_BYTES, METHODS, SERVICE, decode, encode

_log = logging.getLogger(__name__)
MAX_LOG_LINES = 5000


class AuditLog:
    """Append-only JSON lines (a file, and the `edge_llm_ros.ops.audit` logger)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._logger = logging.getLogger("edge_llm_ros.ops.audit")
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, entry: dict[str, Any]) -> None:
        """Record one call."""
        line = json.dumps(entry, sort_keys=True, default=str)
        self._logger.info("%s", line)
        if self.path is None:
            return
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class OpsService(grpc.GenericRpcHandler):
    """Dispatches the ops methods to an OpsBackend after checking the caller's role."""

    def __init__(self, backend: OpsBackend, audit: AuditLog) -> None:
        self.backend = backend
        self.audit = audit
        self._calls: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "Status": lambda _req: {"status": backend.status()},
            "Logs": lambda req: {
                "lines": backend.logs(min(int(req.get("lines", 200)), MAX_LOG_LINES), str(req.get("level", "INFO")))
            },
            "Diagnostics": lambda _req: {"statuses": backend.diagnostics()},
            "Metrics": lambda _req: {"text": backend.metrics()},
            "Lifecycle": lambda req: {"message": backend.lifecycle(str(req.get("action", "")))},
            "Swap": lambda req: {"result": backend.swap(str(req.get("node", "")), str(req.get("model", "")))},
            "BlackBoxDump": lambda _req: {"path": backend.blackbox_dump()},
        }

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        prefix = f"/{SERVICE}/"
        method_path = str(handler_call_details.method)
        if not method_path.startswith(prefix) or method_path[len(prefix) :] not in self._calls:
            return None  # grpc answers UNIMPLEMENTED
        method = method_path[len(prefix) :]
        return grpc.unary_unary_rpc_method_handler(
            lambda request, context: self._handle(method, request, context),
            request_deserializer=None,  # raw bytes: a malformed body is answered, not dropped
            response_serializer=None,
        )

    def _handle(self, method: str, request: bytes, context: grpc.ServicerContext) -> bytes:
        started = time.monotonic()
        auth = context.auth_context()
        pem = (auth.get("x509_pem_cert") or [b""])[0]
        client = common_name_of(pem) if pem else ""
        role = role_of(pem) if pem else None
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "peer": context.peer(),
            "client": client,
            "role": role,
            "method": method,
        }
        try:
            try:
                args = decode(request)
            except ValueError as exc:
                entry["args"] = None
                entry["outcome"] = "invalid_argument"
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"request is not a JSON object: {exc}")
            entry["args"] = args
            if role is None or role not in METHODS[method]:
                entry["outcome"] = "permission_denied"
                context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{method} needs role {' or '.join(sorted(METHODS[method]))}; "
                    f"client {client!r} has {role or 'no role'}",
                )
            try:
                response = self._calls[method](args)
            except (ValueError, TypeError, KeyError) as exc:
                entry["outcome"] = "invalid_argument"
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except NotPossibleError as exc:
                entry["outcome"] = "failed_precondition"
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
            except Exception as exc:  # the backend failed; the operator gets the reason, the device keeps running
                _log.exception("ops %s failed", method)
                entry["outcome"] = "internal"
                context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")
            entry["outcome"] = "ok"
            return encode(response)
        finally:
            entry["ms"] = round((time.monotonic() - started) * 1e3, 2)
            self.audit.write(entry)


class OpsServer:
    """The gRPC server with mutual TLS on HOST:PORT (127.0.0.1 unless `allow_remote`)."""

    def __init__(
        self,
        backend: OpsBackend,
        *,
        cert: bytes,
        key: bytes,
        ca: bytes,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_remote: bool = False,
        audit_path: Path | None = None,
        max_workers: int = 4,
    ) -> None:
        if not host:
            raise ValueError("ops host must be an explicit address (an empty host binds every interface)")
        if not allow_remote and not _is_loopback(host):
            raise ValueError(f"ops host {host!r} is not loopback; pass allow_remote=True (--ops-allow-remote)")
        self.audit = AuditLog(audit_path)
        self.service = OpsService(backend, self.audit)
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers, thread_name_prefix="ops-grpc"),
            handlers=[self.service],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        credentials = grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.port = self._server.add_secure_port(address, credentials)
        if self.port == 0:
            raise OSError(f"cannot bind the ops server to {address}")
        self.host = host

    @property
    def target(self) -> str:
        """HOST:PORT for clients."""
        return f"{self.host}:{self.port}"

    def start(self) -> OpsServer:
        """Serve on background threads."""
        self._server.start()
        return self

    def stop(self, grace_s: float = 2.0) -> None:
        """Stop accepting calls; running ones get `grace_s`."""
        self._server.stop(grace_s).wait(grace_s + 1.0)

    def __enter__(self) -> OpsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def load_pem(path: str | Path) -> bytes:
    """A PEM file's bytes (certificate, key or CA bundle)."""
    return Path(path).read_bytes()
