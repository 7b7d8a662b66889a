"""The LLM node in a child process on zenoh, bridged to an in-process pipeline.

ONNX Runtime GenAI holds Python's GIL while it generates (measured here: 0.9 s stalls of every
other thread during a batch), so an LLM in the pipeline's process would stall the fast path.
The embedded runner therefore always hosts `llm_inference` in its own process and forwards the
two topics it uses, /edge_llm/llm/request out and /edge_llm/advisory back, over zenoh.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from edge_llm_ros.nodes import topics
from edge_llm_ros.transport.bridge import BridgedTopic, BusBridge
from edge_llm_ros.transport.bus import Bus, TransportError
from edge_llm_ros.transport.qos import QoSCatalog


class SidecarError(RuntimeError):
    """The LLM process did not come up; the message carries the end of its log."""


class LlmSidecar:
    """Start with `start()`, stop with `close()` (bounded, kills the process group)."""

    def __init__(
        self,
        pipeline_bus: Bus,
        config: Path,
        qos_file: Path,
        overrides: Mapping[str, Any],
        log_path: Path,
        start_timeout_s: float = 180.0,
    ) -> None:
        self.pipeline_bus = pipeline_bus
        self.config = config
        self.qos_file = qos_file
        self.overrides = dict(overrides)
        self.log_path = log_path
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.bus: Bus | None = None
        self.bridge: BusBridge | None = None

    def start(self) -> LlmSidecar:
        """Spawn the node, wait until it is active, then bridge its topics."""
        from edge_llm_ros.transport.factory import create_bus

        self.bus = create_bus("zenoh")
        command = [
            sys.executable, "-m", "edge_llm_ros.hosting.process", "--node", "llm_inference",
            "--transport", "zenoh", "--params-file", str(self.config), "--qos-file", str(self.qos_file),
            "--autostart",
        ]  # fmt: skip
        for name, value in self.overrides.items():
            command += ["-p", f"{name}:={yaml.safe_dump(value, default_flow_style=True).strip()}"]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._await_active()
        except BaseException:
            self.close()
            raise
        catalog = QoSCatalog.from_yaml(self.qos_file)
        self.bridge = BusBridge(
            self.pipeline_bus,
            self.bus,
            [
                BridgedTopic(topics.LLM_REQUEST_TOPIC, topics.STRING, catalog.profile("pipeline"), "a"),
                BridgedTopic(topics.ADVISORY_TOPIC, topics.STRING, catalog.profile("decision"), "b"),
            ],
            name="llm_bridge",
        )
        return self

    def _await_active(self) -> None:
        assert self.bus is not None and self.process is not None
        codec = self.bus.codec
        probe = self.bus.create_node("llm_sidecar_probe")
        request = codec.serialize(
            codec.msg_class("lifecycle_msgs/srv/GetState_Request")(structure_needs_at_least_one_member=0)
        )
        deadline = time.monotonic() + self.start_timeout_s
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise SidecarError(f"llm_inference exited ({self.process.returncode}): {self._log_tail()}")
                try:
                    raw = probe.call_service("/llm_inference/get_state", "lifecycle_msgs/srv/GetState", request, 1.0)
                    if codec.deserialize(raw, "lifecycle_msgs/srv/GetState_Response").current_state.label == "active":
                        return
                except TransportError:
                    pass
                time.sleep(0.2)
            raise SidecarError(f"llm_inference not active after {self.start_timeout_s:g} s: {self._log_tail()}")
        finally:
            probe.close()

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def close(self, timeout_s: float = 5.0) -> None:
        """Unbridge, stop the process (SIGTERM, then SIGKILL), close the session. Idempotent."""
        if self.bridge is not None:
            self.bridge.close()
            self.bridge = None
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout_s)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout_s)
        if self.bus is not None:
            self.bus.close()
            self.bus = None
