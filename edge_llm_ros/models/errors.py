"""Errors raised by the model store, manifests and engines.

One small hierarchy so callers (the lifecycle manager's swap validation, the CLI) can catch
`ModelError` and report the message as the reason a model was refused.
"""

from __future__ import annotations

from pathlib import Path


class ModelError(Exception):
    """Base class of every model store / manifest / engine error."""


class ManifestError(ModelError):
    """A manifest is missing, unreadable, or does not follow the schema."""


class ModelNotFoundError(ModelError):
    """The store has no such model name or version."""


class Sha256MismatchError(ModelError):
    """A file's sha256 differs from the one pinned in its manifest."""

    def __init__(self, path: Path, expected: str, actual: str) -> None:
        """Name the file and both hashes so an operator can see what changed."""
        self.path = path
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"sha256 mismatch for {path}: manifest pins {expected}, file has {actual}; refusing to load it"
        )


class ModelSpecError(ModelError):
    """A model's inputs/outputs disagree with its manifest, or a batch does not fit the model."""
