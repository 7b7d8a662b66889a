"""The shipped Prometheus rules and a scrape config for a local pipeline.

The rule files live next to this module (``prometheus/rules/*.yml``) so that the wheel and a
colcon install carry them. `render_config` writes the config that `edge-llm-ros monitor` and the
tests use: one job, ``edge_llm``, with every local /metrics endpoint as a target, so that the
recording rules (which aggregate by job) read a pipeline split over processes as one device.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

RULES_DIR = Path(__file__).resolve().parent / "prometheus" / "rules"
JOB = "edge_llm"


def rule_files() -> list[Path]:
    """The shipped rule files (recording first, then alerts)."""
    files = sorted(RULES_DIR.glob("*.yml"), key=lambda p: (0 if "recording" in p.name else 1, p.name))
    if not files:
        raise FileNotFoundError(f"no Prometheus rule files under {RULES_DIR}")
    return files


def render_config(
    targets: Sequence[str],
    *,
    scrape_interval_s: float = 5.0,
    evaluation_interval_s: float | None = None,
    rules: Sequence[Path] | None = None,
    alertmanagers: Sequence[str] = (),
) -> str:
    """prometheus.yml scraping `targets` (HOST:PORT) with the shipped rules loaded."""
    if not targets:
        raise ValueError("give at least one HOST:PORT target to scrape")
    _check_targets(targets)
    interval = _duration(scrape_interval_s)
    config: dict[str, object] = {
        "global": {
            "scrape_interval": interval,
            "evaluation_interval": _duration(evaluation_interval_s or scrape_interval_s),
            "scrape_timeout": interval if scrape_interval_s < 10 else "10s",
        },
        "rule_files": [str(p) for p in (rules if rules is not None else rule_files())],
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": list(targets)}]}],
    }
    if alertmanagers:
        _check_targets(alertmanagers)
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
    return yaml.safe_dump(config, sort_keys=False)


def _check_targets(targets: Sequence[str]) -> None:
    for target in targets:
        host, sep, port = target.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"target {target!r} must look like HOST:PORT")


def _duration(seconds: float) -> str:
    if seconds <= 0:
        raise ValueError(f"interval must be positive, got {seconds}")
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"
