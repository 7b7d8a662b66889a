"""QoS profiles with ROS 2 meaning, loaded by name from config/qos.yaml.

The fields and their defaults follow rmw_qos_profile_t; `sensor_data`, `default` and the others
mirror rclpy.qos.qos_profile_*.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from edge_llm_ros._compat import StrEnum


class Reliability(StrEnum):
    """Whether lost samples are retransmitted."""

    RELIABLE = "reliable"
    BEST_EFFORT = "best_effort"


class History(StrEnum):
    """Which samples are kept for a late reader."""

    KEEP_LAST = "keep_last"
    KEEP_ALL = "keep_all"


class Durability(StrEnum):
    """Whether late-joining subscribers receive samples published before they joined."""

    VOLATILE = "volatile"
    TRANSIENT_LOCAL = "transient_local"


class QoSError(ValueError):
    """An unknown profile name or an invalid field value."""


@dataclass(frozen=True)
class QoSProfile:
    """A ROS 2 QoS profile. Durations are seconds; 0 means 'infinite' as in rmw."""

    reliability: Reliability = Reliability.RELIABLE
    history: History = History.KEEP_LAST
    depth: int = 10
    durability: Durability = Durability.VOLATILE
    deadline_s: float = 0.0
    lifespan_s: float = 0.0

    def __post_init__(self) -> None:
        if self.history is History.KEEP_LAST and self.depth < 1:
            raise QoSError(f"keep_last history needs depth >= 1, got {self.depth}")
        if self.deadline_s < 0 or self.lifespan_s < 0:
            raise QoSError("deadline_s and lifespan_s must be >= 0")

    @property
    def queue_limit(self) -> int | None:
        """How many undelivered samples a reader may hold (None: unbounded, keep_all)."""
        return self.depth if self.history is History.KEEP_LAST else None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base: QoSProfile | None = None) -> QoSProfile:
        """Build from a YAML mapping; unknown keys are an error naming the key."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise QoSError(f"unknown QoS field(s) {sorted(unknown)}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        try:
            for key, raw in data.items():
                if key == "reliability":
                    values[key] = Reliability(str(raw).lower())
                elif key == "history":
                    values[key] = History(str(raw).lower())
                elif key == "durability":
                    values[key] = Durability(str(raw).lower())
                elif key == "depth":
                    values[key] = int(raw)
                else:
                    values[key] = float(raw)
        except ValueError as exc:
            raise QoSError(f"invalid QoS value: {exc}") from exc
        return replace(base or cls(), **values)


SENSOR_DATA = QoSProfile(Reliability.BEST_EFFORT, History.KEEP_LAST, 5, Durability.VOLATILE)
DEFAULT = QoSProfile()
SYSTEM_DEFAULT = DEFAULT
SERVICES_DEFAULT = QoSProfile(Reliability.RELIABLE, History.KEEP_LAST, 10)
PARAMETERS = QoSProfile(Reliability.RELIABLE, History.KEEP_LAST, 1000)
LATCHED = QoSProfile(Reliability.RELIABLE, History.KEEP_LAST, 1, Durability.TRANSIENT_LOCAL)
# Between pipeline stages: every frame matters, but a deep queue would only serve stale frames.
PIPELINE = QoSProfile(Reliability.RELIABLE, History.KEEP_LAST, 10, Durability.VOLATILE)

BUILTIN_PROFILES: dict[str, QoSProfile] = {
    "sensor_data": SENSOR_DATA,
    "default": DEFAULT,
    "system_default": SYSTEM_DEFAULT,
    "services_default": SERVICES_DEFAULT,
    "parameters": PARAMETERS,
    "latched": LATCHED,
    "pipeline": PIPELINE,
}


class QoSCatalog:
    """Named profiles plus per-topic assignments, as in config/qos.yaml."""

    def __init__(self, profiles: Mapping[str, QoSProfile], topics: Mapping[str, str] | None = None) -> None:
        self.profiles = dict(BUILTIN_PROFILES) | dict(profiles)
        self.topics = dict(topics or {})
        for topic, name in self.topics.items():
            if name not in self.profiles:
                raise QoSError(f"topic {topic!r} uses unknown QoS profile {name!r}")

    def profile(self, name: str) -> QoSProfile:
        """A profile by name; an unknown name is an error listing the known ones."""
        try:
            return self.profiles[name]
        except KeyError:
            raise QoSError(f"unknown QoS profile {name!r}; known: {sorted(self.profiles)}") from None

    def for_topic(self, topic: str, fallback: str = "default") -> QoSProfile:
        """The profile assigned to `topic` (exact name), else `fallback`."""
        return self.profile(self.topics.get(topic, fallback))

    @classmethod
    def from_yaml(cls, path: str | Path) -> QoSCatalog:
        """Load `profiles:` (name -> fields, optional `base:`) and `topics:` (topic -> name)."""
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        profiles: dict[str, QoSProfile] = {}
        for name, spec in (data.get("profiles") or {}).items():
            spec = dict(spec or {})
            base_name = spec.pop("base", None)
            base = (profiles | BUILTIN_PROFILES).get(base_name) if base_name else None
            if base_name and base is None:
                raise QoSError(f"profile {name!r}: unknown base {base_name!r}")
            try:
                profiles[name] = QoSProfile.from_mapping(spec, base)
            except QoSError as exc:
                raise QoSError(f"profile {name!r}: {exc}") from exc
        return cls(profiles, data.get("topics") or {})
