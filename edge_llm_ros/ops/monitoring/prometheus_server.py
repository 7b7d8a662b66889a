"""Run a local Prometheus (the distribution's binary) on loopback, and query its HTTP API.

Used by `edge-llm-ros monitor` and by the tests: the server binds 127.0.0.1 (port 0 picks a free
one), keeps its TSDB in a directory of the caller's choosing (a temp dir by default), runs in its
own process group, and is always stopped (SIGTERM, then SIGKILL after a bounded wait).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from edge_llm_ros.ops.monitoring.prometheus_config import render_config


class PrometheusError(RuntimeError):
    """Prometheus is missing, did not start, or answered a query with an error."""


def find_prometheus() -> str | None:
    """The `prometheus` binary on PATH (Debian: apt-get install prometheus), or None."""
    return shutil.which("prometheus")


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on `host` right now (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class PrometheusServer:
    """One Prometheus process scraping `targets` with the shipped rules."""

    def __init__(
        self,
        targets: Sequence[str],
        *,
        port: int = 0,
        scrape_interval_s: float = 5.0,
        data_dir: Path | None = None,
        retention: str = "1d",
        binary: str | None = None,
        alertmanagers: Sequence[str] = (),
    ) -> None:
        self.binary = binary or find_prometheus()
        if self.binary is None:
            raise PrometheusError("prometheus is not installed (Debian/Ubuntu: apt-get install prometheus)")
        self.port = port or free_port()
        self.config_text = render_config(targets, scrape_interval_s=scrape_interval_s, alertmanagers=alertmanagers)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="edge_llm_prometheus_")
            data_dir = Path(self._tmp.name)
        self.data_dir = Path(data_dir)
        self.retention = retention
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "prometheus.log"

    @property
    def url(self) -> str:
        """Base URL of the web UI and API."""
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The command line `start` runs."""
        assert self.binary is not None
        return [
            self.binary,
            f"--config.file={self.data_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
            f"--storage.tsdb.retention.time={self.retention}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
        ]

    def start(self, ready_timeout_s: float = 30.0) -> PrometheusServer:
        """Write the config, start the process and wait (bounded) until /-/ready answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "prometheus.yml").write_text(self.config_text, encoding="utf-8")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if (code := self.process.poll()) is not None:
                tail = self.log_tail()  # before stop() removes a temp data dir with the log in it
                self.stop()
                raise PrometheusError(f"prometheus exited with {code}: {tail}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1.0) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        tail = self.log_tail()
        self.stop()
        raise PrometheusError(f"prometheus not ready after {ready_timeout_s} s: {tail}")

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log."""
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def query(self, expr: str, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        """Instant query; returns the result vector (a list of {metric, value})."""
        params = urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/query?{params}", timeout=timeout_s) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise PrometheusError(f"query {expr!r}: HTTP {exc.code} {exc.read()[:300]!r}") from exc
        if body.get("status") != "success":
            raise PrometheusError(f"query {expr!r}: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def api(self, path: str, timeout_s: float = 5.0) -> Any:
        """GET /api/v1/PATH and return its `data`."""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}", timeout=timeout_s) as response:
            return json.loads(response.read())["data"]

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL after `timeout_s`; remove the temp data dir. Idempotent."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5.0)
            except ProcessLookupError:
                pass
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
