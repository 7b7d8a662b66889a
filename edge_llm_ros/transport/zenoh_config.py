"""Zenoh session settings: loopback-only by default, zero-configuration discovery between processes.

Discovery ("the hub"). rmw_zenoh expects a router on tcp/localhost:7447 that every session connects
to, and learns the other sessions from it by gossip, then talks to them peer-to-peer. We keep that
topology but do not require anyone to start a router: each peer session first tries to *listen* on
the hub endpoint (default tcp/127.0.0.1:7447). The first process on the machine gets the port and
is the hub; every later one finds the port taken, listens on an ephemeral 127.0.0.1 port instead
and connects to the hub, and gossip scouting (never multicast) tells it the other peers' loopback
locators so data flows directly between processes. If the hub process dies, the others keep their
direct links and keep retrying the hub endpoint; the next process to start takes the port over and
they reconnect to it. Because 7447 is rmw_zenoh's router port, a running `rmw_zenohd` (or zenohd)
simply becomes the hub, and ROS 2 nodes on rmw_zenoh discover us the same way.

Settings, lowest precedence first: defaults < environment < the mapping passed in (YAML or dict):

=================  ==============================  ==========================================
key                environment                     default
=================  ==============================  ==========================================
mode               EDGE_LLM_ROS_ZENOH_MODE         peer (also: client, router)
domain_id          ROS_DOMAIN_ID                   0
hub                EDGE_LLM_ROS_ZENOH_HUB          tcp/127.0.0.1:7447 ("none" disables it)
listen             EDGE_LLM_ROS_ZENOH_LISTEN       [] -> hub, else tcp/127.0.0.1:0
connect            EDGE_LLM_ROS_ZENOH_CONNECT      [] (extra endpoints; comma-separated in env)
lease_ms           EDGE_LLM_ROS_ZENOH_LEASE_MS     1000
keep_alive         -                               4 (keep-alive messages per lease)
multicast_scouting -                               false
gossip_scouting    -                               true
validate_payloads  -                               header (none | header | full)
service_type_hashes -                              {} (srvtype -> RIHS01 string overrides)
zenoh              -                               {} (extra zenoh config: "json/path": value)
zenoh_config_file  ZENOH_SESSION_CONFIG_URI        none: a full zenoh json5 config, used as is
=================  ==============================  ==========================================

Liveliness loss. A process killed with -9 has its TCP sockets closed by the kernel, so its peers
drop its liveliness tokens as soon as they read the FIN/RST (milliseconds). The lease only matters
when a host or link vanishes without closing sockets; zenoh's default is 10 s, we use 1 s with 4
keep-alives per lease (one every 250 ms), so even then a dead peer is declared lost within ~1 s.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml
import zenoh

DEFAULT_HUB = "tcp/127.0.0.1:7447"
EPHEMERAL_LOOPBACK = "tcp/127.0.0.1:0"
_MODES = ("peer", "client", "router")
_VALIDATION = ("none", "header", "full")
_ENV = {
    "mode": "EDGE_LLM_ROS_ZENOH_MODE",
    "hub": "EDGE_LLM_ROS_ZENOH_HUB",
    "listen": "EDGE_LLM_ROS_ZENOH_LISTEN",
    "connect": "EDGE_LLM_ROS_ZENOH_CONNECT",
    "lease_ms": "EDGE_LLM_ROS_ZENOH_LEASE_MS",
    "domain_id": "ROS_DOMAIN_ID",
    "zenoh_config_file": "ZENOH_SESSION_CONFIG_URI",
}


class ZenohConfigError(ValueError):
    """A setting that is unknown or has an invalid value; the message names it."""


def _endpoints(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Iterable):
        raise ZenohConfigError(f"zenoh setting {key!r}: expected a list of endpoints, got {value!r}")
    out = tuple(str(item).strip() for item in items if str(item).strip())
    for endpoint in out:
        if "/" not in endpoint:
            raise ZenohConfigError(f"zenoh setting {key!r}: {endpoint!r} is not '<proto>/<address>'")
    return out


@dataclass(frozen=True)
class ZenohSettings:
    """Everything the zenoh adapter needs to open its session (see the module docstring)."""

    mode: str = "peer"
    domain_id: int = 0
    hub: str | None = DEFAULT_HUB
    listen: tuple[str, ...] = ()
    connect: tuple[str, ...] = ()
    lease_ms: int = 1000
    keep_alive: int = 4
    multicast_scouting: bool = False
    gossip_scouting: bool = True
    validate_payloads: str = "header"
    service_type_hashes: Mapping[str, str] = field(default_factory=dict)
    zenoh: Mapping[str, Any] = field(default_factory=dict)
    zenoh_config_file: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ZenohConfigError(f"zenoh setting 'mode': {self.mode!r} is not one of {_MODES}")
        if not 0 <= self.domain_id <= 232:
            raise ZenohConfigError(f"zenoh setting 'domain_id': {self.domain_id} is outside 0..232")
        if self.lease_ms < 100 or self.keep_alive < 1:
            raise ZenohConfigError("zenoh settings 'lease_ms' >= 100 and 'keep_alive' >= 1 required")
        if self.validate_payloads not in _VALIDATION:
            raise ZenohConfigError(
                f"zenoh setting 'validate_payloads': {self.validate_payloads!r} is not one of {_VALIDATION}"
            )

    @classmethod
    def load(cls, data: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> ZenohSettings:
        """Defaults, overridden by the environment, overridden by `data`."""
        settings = cls.from_mapping(cls._env_values(os.environ if env is None else env))
        return settings.updated(data or {})

    @classmethod
    def from_yaml(cls, path: str | Path, env: Mapping[str, str] | None = None) -> ZenohSettings:
        """Load a YAML mapping of the keys above (optionally under a top-level `zenoh_bus:` key)."""
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(doc, Mapping):
            raise ZenohConfigError(f"{path}: expected a mapping of zenoh settings")
        return cls.load(doc.get("zenoh_bus", doc), env)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ZenohSettings:
        """Settings from a mapping; unknown keys are an error naming them."""
        return cls().updated(data)

    def updated(self, data: Mapping[str, Any]) -> ZenohSettings:
        """A copy with the keys of `data` replaced (validated, converted)."""
        known = {f.name for f in fields(self)}
        unknown = set(data) - known
        if unknown:
            raise ZenohConfigError(f"unknown zenoh setting(s) {sorted(unknown)}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for key, raw in data.items():
            try:
                values[key] = self._convert(key, raw)
            except (TypeError, ValueError) as exc:
                if isinstance(exc, ZenohConfigError):
                    raise
                raise ZenohConfigError(f"zenoh setting {key!r}: invalid value {raw!r} ({exc})") from None
        return replace(self, **values)

    @staticmethod
    def _convert(key: str, raw: Any) -> Any:
        if key in ("listen", "connect"):
            return _endpoints(raw, key)
        if key == "hub":
            text = "" if raw is None else str(raw).strip()
            return None if text.lower() in ("", "none", "off", "false") else text
        if key in ("domain_id", "lease_ms", "keep_alive"):
            return int(raw)
        if key in ("multicast_scouting", "gossip_scouting"):
            if isinstance(raw, str):
                return raw.strip().lower() in ("1", "true", "yes", "on")
            return bool(raw)
        if key in ("service_type_hashes", "zenoh"):
            if not isinstance(raw, Mapping):
                raise ZenohConfigError(f"zenoh setting {key!r}: expected a mapping, got {raw!r}")
            return dict(raw)
        if key == "zenoh_config_file":
            return str(raw) if raw else None
        return str(raw).strip().lower()

    @staticmethod
    def _env_values(env: Mapping[str, str]) -> dict[str, str]:
        return {key: env[name] for key, name in _ENV.items() if env.get(name, "").strip()}


@dataclass(frozen=True)
class SessionPlan:
    """One concrete way to open the session: listen/connect endpoints and whether it is the hub."""

    listen: tuple[str, ...]
    connect: tuple[str, ...]
    is_hub: bool


def session_plans(settings: ZenohSettings) -> list[SessionPlan]:
    """The session layouts to try, in order (first: become the hub; then: join it)."""
    extra = settings.connect
    if settings.mode == "client":
        return [SessionPlan((), extra or ((settings.hub,) if settings.hub else ()), False)]
    if settings.listen:
        join = (settings.hub,) if settings.hub and settings.hub not in settings.listen else ()
        return [SessionPlan(settings.listen, extra + join, settings.hub in settings.listen)]
    if settings.hub is None:
        return [SessionPlan((EPHEMERAL_LOOPBACK,), extra, False)]
    plans = [SessionPlan((settings.hub,), extra, True)]
    if settings.mode == "peer":
        plans.append(SessionPlan((EPHEMERAL_LOOPBACK,), (*extra, settings.hub), False))
    return plans


def build_zenoh_config(settings: ZenohSettings, plan: SessionPlan) -> zenoh.Config:
    """A zenoh.Config for one plan: loopback endpoints, multicast off, short lease."""
    if settings.zenoh_config_file:
        try:
            return zenoh.Config.from_file(settings.zenoh_config_file)
        except zenoh.ZError as exc:
            raise ZenohConfigError(f"cannot load zenoh config {settings.zenoh_config_file}: {exc}") from exc
    config = zenoh.Config()
    # Peers need a timestamp on every sample for the transient-local publication cache.
    values: dict[str, Any] = {
        "mode": settings.mode,
        "listen/endpoints": list(plan.listen),
        # Fail loudly when the hub port is taken so we fall back to joining it.
        "listen/exit_on_failure": True,
        "connect/endpoints": list(plan.connect),
        # zenoh's defaults let a peer start while its connect endpoints are down and retry them in
        # the background; retry sooner than its 1-4 s so a restarted hub is rejoined quickly.
        "connect/retry": {"period_init_ms": 250, "period_max_ms": 2000, "period_increase_factor": 2},
        # zenoh's peers wait 500 ms in open() for scouting; rmw_zenoh waits 1 ms. Routes to
        # peers found later are set up in the background anyway.
        "scouting/delay": 1,
        "scouting/multicast/enabled": settings.multicast_scouting,
        "scouting/gossip/enabled": settings.gossip_scouting,
        "scouting/gossip/multihop": False,
        "scouting/gossip/autoconnect": {"router": [], "peer": ["router", "peer"]},
        "timestamping/enabled": {"router": True, "peer": True, "client": True},
        "transport/link/tx/lease": settings.lease_ms,
        "transport/link/tx/keep_alive": settings.keep_alive,
    }
    values.update(settings.zenoh)
    for path, value in values.items():
        try:
            config.insert_json5(path, json.dumps(value))
        except zenoh.ZError as exc:
            raise ZenohConfigError(f"zenoh config {path}={value!r} rejected: {exc}") from exc
    return config


def open_session(settings: ZenohSettings) -> tuple[zenoh.Session, SessionPlan]:
    """Open a session following `session_plans`; raises ZenohConfigError/zenoh.ZError at the end."""
    plans = session_plans(settings)
    last: Exception | None = None
    for plan in plans:
        config = build_zenoh_config(settings, plan)
        try:
            return zenoh.open(config), plan
        except zenoh.ZError as exc:
            last = exc
            if settings.zenoh_config_file:
                break
    assert last is not None
    raise last
