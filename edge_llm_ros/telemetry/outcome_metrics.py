"""Metrics of what the pipeline produced: decisions by action, LLM advisories (latency, tokens).

Kept apart from metrics.py's per-node families because these are read off the output topics by
the process hosting the decision node, once per decision or advisory. Families (namespace
``edge_llm``):

- ``edge_llm_decisions_total`` counter {node, action}: decisions published (frames out)
- ``edge_llm_llm_advisory_latency_seconds`` histogram {node}: request to validated advisory
- ``edge_llm_llm_generated_tokens_total`` counter {node}: tokens generated for published advisories
- ``edge_llm_llm_generation_seconds_total`` counter {node}: the time those tokens took, so that
  tokens/s over any window is ``increase(tokens) / increase(seconds)``
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from edge_llm_ros.telemetry.metrics import NAMESPACE

# An advisory takes 0.1 s (tiny test model) to several seconds (SmolLM2 at batch 8 on 2 cores).
ADVISORY_BUCKETS_S: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0)


class OutcomeMetrics:
    """Decision and advisory families on an existing registry."""

    def __init__(self, registry: CollectorRegistry, *, namespace: str = NAMESPACE) -> None:
        self.decisions = Counter(
            "decisions", "Decisions published, by action", ["node", "action"], namespace=namespace, registry=registry
        )
        self.advisory_latency = Histogram(
            "llm_advisory_latency_seconds",
            "LLM advisory latency, request to validated advisory",
            ["node"],
            namespace=namespace,
            registry=registry,
            buckets=ADVISORY_BUCKETS_S,
        )
        self.generated_tokens = Counter(
            "llm_generated_tokens",
            "Tokens generated for published advisories",
            ["node"],
            namespace=namespace,
            registry=registry,
        )
        self.generation_seconds = Counter(
            "llm_generation_seconds",
            "Time spent generating published advisories",
            ["node"],
            namespace=namespace,
            registry=registry,
        )

    def observe_decision(self, node: str, action: str) -> None:
        """One published decision."""
        self.decisions.labels(node, _short(action)).inc()

    def observe_advisory(self, node: str, record: Mapping[str, Any]) -> bool:
        """One advisory record (``edge_llm_ros/advisory_record/1``); False when it is malformed."""
        try:
            latency = float(record["latency_s"])
            tokens = int(record["generated_tokens"])
        except (KeyError, TypeError, ValueError):
            return False
        if latency < 0 or tokens < 0:
            return False
        self.advisory_latency.labels(node).observe(latency)
        self.generated_tokens.labels(node).inc(tokens)
        self.generation_seconds.labels(node).inc(latency)
        return True


def _short(value: str) -> str:
    # Actions come from the scene config; bound them anyway, a label is kept forever by a scraper.
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in str(value))[:32]
    return cleaned or "unknown"
