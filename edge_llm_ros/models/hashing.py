"""sha256 of model files, and the check that refuses a file whose hash is not the pinned one."""

from __future__ import annotations

import hashlib
from pathlib import Path

from edge_llm_ros.models.errors import Sha256MismatchError

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of an in-memory buffer."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str) -> None:
    """Raise Sha256MismatchError (naming the file and both hashes) unless `path` hashes to `expected`."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise Sha256MismatchError(Path(path), expected.lower(), actual)


def verify_sha256_bytes(data: bytes, path: Path, expected: str) -> None:
    """Same check on bytes already read from `path` (so what is hashed is exactly what gets loaded)."""
    actual = sha256_bytes(data)
    if actual != expected.lower():
        raise Sha256MismatchError(Path(path), expected.lower(), actual)
