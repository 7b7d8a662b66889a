"""What nodes report beyond their counters: the shape of a node's batcher as metrics read it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class BatchStats(Protocol):
    """What a node's dynamic batcher reports (inference.batcher and llm.batcher both do)."""

    @property
    def batch_sizes(self) -> Mapping[int, int]:
        """Batch size -> batches of that size served so far."""
        ...

    def pending(self) -> int:
        """Requests queued or running."""
        ...
