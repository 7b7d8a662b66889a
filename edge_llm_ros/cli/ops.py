"""`edge-llm-ros ops`: certificates for remote operations, and the operator's client.

On the device, `edge-llm-ros run --ops-port 50051 --ops-cert server.crt --ops-key server.key
--ops-ca ca.crt` serves the ops service; an operator then calls e.g.
`edge-llm-ros ops status --target HOST:50051 --cert alice.crt --key alice.key --ca ca.crt`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

CLIENT_COMMANDS = ("status", "logs", "diagnostics", "metrics", "lifecycle", "swap", "blackbox")


def register(subparsers: Any) -> None:
    """Add the `ops` subcommand and its own subcommands."""
    p = subparsers.add_parser("ops", help="remote operations over gRPC with mutual TLS (certs, status, swap, ...)")
    sub = p.add_subparsers(dest="ops_command", metavar="OPS_COMMAND")
    certs = sub.add_parser("certs", help="make a CA, a server certificate and client certificates (quick start)")
    certs.add_argument("--out", type=Path, required=True, help="directory for the PEM files")
    certs.add_argument("--server-name", action="append", default=[], help="DNS name of the device (repeatable)")
    certs.add_argument("--server-ip", action="append", default=[], help="IP address of the device (repeatable)")
    certs.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="NAME:ROLE",
        help="a client certificate; ROLE is operator or read-only (default: operator:operator)",
    )
    certs.add_argument(
        "--zenoh-peer",
        action="append",
        default=[],
        metavar="NAME",
        help="a certificate for a zenoh TLS link (server and client usage; SANs from --server-name/--server-ip)",
    )
    certs.add_argument("--days", type=float, default=365, help="validity of the client certificates")
    certs.set_defaults(func=run_certs)
    for name in CLIENT_COMMANDS:
        c = sub.add_parser(name, help=f"{name} of a remote device")
        c.add_argument("--target", required=True, metavar="HOST:PORT", help="the device's ops endpoint")
        c.add_argument("--cert", type=Path, required=True, help="your client certificate (PEM)")
        c.add_argument("--key", type=Path, required=True, help="its private key (PEM)")
        c.add_argument("--ca", type=Path, required=True, help="the CA that signed the device's certificate")
        c.add_argument("--server-name", help="name to verify in the device's certificate (default: the target host)")
        c.add_argument("--timeout", type=float, default=30.0, help="seconds per call")
        if name == "logs":
            c.add_argument("--lines", type=int, default=200)
            c.add_argument("--level", default="INFO")
        if name == "lifecycle":
            c.add_argument("action", choices=("start", "stop", "reset"))
        if name == "swap":
            c.add_argument("node", help="node kind, e.g. vision_inference")
            c.add_argument("model", help="model id NAME[@VERSION]")
        c.set_defaults(func=run_client)
    p.set_defaults(func=lambda _args: (p.print_help(), 1)[1])


def run_certs(args: argparse.Namespace) -> int:
    """Write ca, server and client certificates."""
    from edge_llm_ros.ops.remote.certs import issue_client, issue_peer, issue_server, make_ca

    clients = args.client or ["operator:operator"]
    parsed = []
    for item in clients:
        name, sep, role = item.partition(":")
        if not sep or not name or role not in ("operator", "read-only"):
            print(f"error: --client {item!r} must be NAME:operator or NAME:read-only", file=sys.stderr)
            return 2
        parsed.append((name, role))
    ca = make_ca()
    written = list(ca.write(args.out, "ca"))
    names = args.server_name or ["localhost"]
    ips = args.server_ip or (["127.0.0.1"] if not args.server_name else [])
    written += issue_server(ca, names, ips).write(args.out, "server")
    for name, role in parsed:
        written += issue_client(ca, name, role, days=args.days).write(args.out, name)
    for name in args.zenoh_peer:
        written += issue_peer(ca, names, ips).write(args.out, name)
    for path in written:
        print(f"wrote {path}")
    print("keep ca.key offline: whoever holds it can issue operator certificates")
    return 0


def run_client(args: argparse.Namespace) -> int:
    """One call to a remote device; prints JSON (metrics and logs as text)."""
    import grpc

    from edge_llm_ros.ops.remote.client import OpsClient

    try:
        client = OpsClient.from_files(
            args.target, args.cert, args.key, args.ca, server_name=args.server_name, timeout_s=args.timeout
        )
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with client:
        try:
            command = args.ops_command
            if command == "status":
                print(json.dumps(client.status(), indent=1))
            elif command == "logs":
                print("\n".join(client.logs(args.lines, args.level)))
            elif command == "diagnostics":
                print(json.dumps(client.diagnostics(), indent=1))
            elif command == "metrics":
                print(client.metrics(), end="")
            elif command == "lifecycle":
                print(client.lifecycle(args.action))
            elif command == "swap":
                result = client.swap(args.node, args.model)
                print(json.dumps(result, indent=1))
                return 0 if result.get("ok") else 1
            elif command == "blackbox":
                print(client.blackbox_dump())
        except grpc.RpcError as exc:
            print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 2
    return 0
