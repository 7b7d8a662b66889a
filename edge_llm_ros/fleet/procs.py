"""Child processes of a fleet run: started in a namespace, in their own process group, stopped bounded."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

#: The package root: children run with it as cwd and on PYTHONPATH (a worktree, not an install).
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ with the package root first on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


class Child:
    """One child process; stdout/stderr go to `log` unless `pipes` (then stdin/stdout are JSON lines)."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, pipes: bool = False) -> None:
        self.name = name
        self.log = log
        self._log_file: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            list(argv),
            cwd=PACKAGE_ROOT,
            env=child_env(),
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else self._log_file,
            stderr=self._log_file,
            start_new_session=True,  # its own group: stop() signals it and whatever it started
            text=pipes,
        )

    def read_json(self, timeout_s: float) -> dict[str, Any]:
        """The next JSON line on stdout (pipes only); raises RuntimeError on timeout/exit."""
        stdout = self.proc.stdout
        assert stdout is not None
        readable, _, _ = select.select([stdout], [], [], timeout_s)
        line = stdout.readline() if readable else ""
        if not line:
            raise RuntimeError(f"{self.name}: no answer within {timeout_s} s (exit {self.proc.poll()}); see {self.log}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def command(self, cmd: Mapping[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
        """Send a JSON command line, return the answer line."""
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(json.dumps(dict(cmd)) + "\n")
        stdin.flush()
        return self.read_json(timeout_s)

    def wait_log(self, needle: str, timeout_s: float) -> None:
        """Wait until `needle` appears in the log (e.g. a router's ready line)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if needle in self.log.read_text(encoding="utf-8", errors="replace"):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        tail = self.log.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"{self.name} not ready within {timeout_s} s (exit {self.proc.poll()}): {tail}")

    def usage(self) -> dict[str, float]:
        """CPU seconds (user + system) and resident MiB so far, from /proc (empty once it exited)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return {}
        ticks = os.sysconf("SC_CLK_TCK")
        rss_kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        # Fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the command name.
        return {"cpu_s": (int(fields[11]) + int(fields[12])) / ticks, "rss_mib": rss_kib / 1024}

    def wait(self, timeout_s: float) -> int | None:
        """Exit code, or None if still running after `timeout_s`."""
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the group, then SIGKILL after `grace_s`; close our ends of the pipes."""
        if self.proc.poll() is None:
            for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                if self.wait(wait_s) is not None:
                    break
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self._log_file.close()
