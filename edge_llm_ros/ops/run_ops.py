"""The ops server of `edge-llm-ros run`: its command-line options and its start-up."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The `--ops-*` options of `edge-llm-ros run`."""
    p.add_argument("--ops-port", type=int, help="serve remote operations (gRPC, mutual TLS) on this port")
    p.add_argument("--ops-host", default="127.0.0.1", help="address for the ops server (default 127.0.0.1)")
    p.add_argument("--ops-allow-remote", action="store_true", help="allow --ops-host to be a non-loopback address")
    p.add_argument("--ops-cert", type=Path, help="the device's server certificate (PEM)")
    p.add_argument("--ops-key", type=Path, help="its private key (PEM)")
    p.add_argument("--ops-ca", type=Path, help="the CA whose client certificates are accepted (PEM)")
    p.add_argument("--ops-audit", type=Path, help="audit log, JSON lines (default: RUN_DIR/ops_audit.log)")


def start_ops_server(args: argparse.Namespace, session: Any, exporter: Any = None, recorder: Any = None) -> Any:
    """Start the ops server for a started RunSession when `--ops-port` is given; None otherwise."""
    if getattr(args, "ops_port", None) is None:
        return None
    missing = [f"--ops-{name}" for name in ("cert", "key", "ca") if getattr(args, f"ops_{name}") is None]
    if missing:
        raise ValueError(f"--ops-port needs {', '.join(missing)} (make a set with `edge-llm-ros ops certs`)")
    from edge_llm_ros.ops.remote.backend import LogRing, RunBackend
    from edge_llm_ros.ops.remote.server import OpsServer

    ring = LogRing()
    logging.getLogger("edge_llm_ros").addHandler(ring)
    backend = RunBackend(
        session, ring, registry=exporter.metrics.registry if exporter is not None else None, recorder=recorder
    )
    server = OpsServer(
        backend,
        cert=args.ops_cert.read_bytes(),
        key=args.ops_key.read_bytes(),
        ca=args.ops_ca.read_bytes(),
        host=args.ops_host,
        port=args.ops_port,
        allow_remote=args.ops_allow_remote,
        audit_path=args.ops_audit or Path(session.run_dir) / "ops_audit.log",
    )
    return server.start()
