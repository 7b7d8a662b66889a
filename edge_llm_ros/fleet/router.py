"""A zenoh router process: `python -m edge_llm_ros.fleet.router CONFIG.json` (run inside a host namespace).

zenoh's router mode, opened through the eclipse-zenoh Python package (no `zenohd` binary ships
with it on PyPI): same routing, TLS, downsampling and QoS interceptors as zenohd. It prints one
line when the session is open and closes it on SIGTERM/SIGINT.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import zenoh

from edge_llm_ros.fleet.links import to_zenoh_config


def main(argv: Sequence[str]) -> int:
    """Open the router, wait for a signal, close it."""
    values = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    # zenoh's own log (RUST_LOG overrides): link and transport failures land in the router's log.
    zenoh.init_log_from_env_or("info")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        session = zenoh.open(to_zenoh_config(values))
    except zenoh.ZError as exc:
        print(json.dumps({"ready": False, "error": str(exc)}), flush=True)
        return 2
    try:
        print(json.dumps({"ready": True, "zid": str(session.info.zid())}), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
