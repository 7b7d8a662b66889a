"""Linux network namespaces as test hosts: made, used and removed with iproute2.

Every name carries a per-run token so parallel runs never collide, and `NamespaceSet.close()`
deletes every namespace it made even after a failure (deleting a namespace also removes every
interface inside it). Nothing here touches the host's own interfaces or routes.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence

#: Bound on every iproute2 call: a wedged `ip` must not hang a test.
IP_TIMEOUT_S = 10.0


class NetnsError(RuntimeError):
    """An iproute2 command failed; the message carries its stderr."""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `ip ARGS` (bounded); raises NetnsError with stderr when it fails and `check`."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S, check=False)
    if check and proc.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {proc.stderr.strip() or proc.returncode}")
    return proc


def unavailable_reason() -> str | None:
    """Why namespaces cannot be used here (not root, no iproute2, `ip netns add` refused), else None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 ('ip') is not installed"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing (the link emulator needs TUN devices)"
    name = f"elrprobe{secrets.token_hex(3)}"
    try:
        proc = ip("netns", "add", name, check=False)
        if proc.returncode != 0:
            return f"'ip netns add' failed: {proc.stderr.strip()}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"'ip netns add' failed: {exc}"
    finally:
        ip("netns", "del", name, check=False)
    return None


class NamespaceSet:
    """Named namespaces made for one run; `close()` removes them all (idempotent)."""

    def __init__(self, hosts: Sequence[str], token: str | None = None) -> None:
        self.token = token or secrets.token_hex(3)
        self.names: dict[str, str] = {}
        try:
            for host in hosts:
                name = f"elr-{self.token}-{host}"
                ip("netns", "add", name)
                self.names[host] = name
                ip("-n", name, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    def __getitem__(self, host: str) -> str:
        return self.names[host]

    def exec_argv(self, host: str, argv: Sequence[str]) -> list[str]:
        """`argv` run inside the host's namespace."""
        return ["ip", "netns", "exec", self.names[host], *argv]

    def sysctl(self, host: str, key: str, value: str) -> bool:
        """Set a per-namespace sysctl; False when this kernel does not have it."""
        proc = subprocess.run(
            self.exec_argv(host, ["sysctl", "-qw", f"{key}={value}"]),
            capture_output=True,
            text=True,
            timeout=IP_TIMEOUT_S,
            check=False,
        )
        return proc.returncode == 0

    def close(self) -> None:
        """Delete every namespace made here (their interfaces go with them)."""
        for name in list(self.names.values()):
            ip("netns", "del", name, check=False)
        self.names.clear()

    def __enter__(self) -> NamespaceSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def leftover_namespaces(prefix: str = "elr-") -> list[str]:
    """Namespaces whose name starts with `prefix` (to check that a run cleaned up)."""
    proc = ip("netns", "list", check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.startswith(prefix)]
