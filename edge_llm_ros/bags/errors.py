"""The one error type bag I/O raises."""

from __future__ import annotations


class BagError(RuntimeError):
    """A bag that cannot be written or read: missing, not a rosbag2, truncated or corrupt."""
