"""What a subscription receives: a CDR payload and the metadata that travels next to it."""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass, field

_arrivals = itertools.count()


#: publisher_gid of a sample whose transport does not say who published it (rclpy on Humble).
UNKNOWN_PUBLISHER = bytes(16)


def new_gid() -> bytes:
    """A 16-byte globally unique id for a publisher, as rmw uses for writer GIDs."""
    return uuid.uuid4().bytes


@dataclass(frozen=True)
class MessageInfo:
    """Per-sample metadata carried next to the payload (rmw_zenoh puts it in the attachment)."""

    source_timestamp_ns: int
    sequence_number: int
    publisher_gid: bytes
    received_timestamp_ns: int = field(default_factory=time.time_ns)


@dataclass(frozen=True)
class Sample:
    """One received message: CDR payload plus metadata; decode with `codec.deserialize`."""

    topic: str
    typename: str
    data: bytes
    info: MessageInfo
    arrival: int = field(default_factory=lambda: next(_arrivals))
