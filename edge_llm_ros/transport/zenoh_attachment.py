"""The 33-byte attachment rmw_zenoh sends with every sample, request and reply.

Layout (zenoh-ext serialisation of ``(int64, int64, std::vector<uint8_t>)``, see rmw_zenoh
docs/design.md "Publishers"):

====== ====== =====================================================
offset size   field
====== ====== =====================================================
0      8      sequence number, int64 little-endian
8      8      source timestamp, ns since the UNIX epoch, int64 LE
16     1      GID length as a LEB128 varint; always 16 -> one byte
17     16     GID (publisher GID for samples, client GID for services)
====== ====== =====================================================
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

GID_SIZE = 16
ATTACHMENT_SIZE = 8 + 8 + 1 + GID_SIZE
_LAYOUT = struct.Struct(f"<qqB{GID_SIZE}s")


class AttachmentError(ValueError):
    """Attachment bytes that are not rmw_zenoh's layout."""


@dataclass(frozen=True)
class Attachment:
    """Decoded attachment fields."""

    sequence_number: int
    source_timestamp_ns: int
    gid: bytes


def pack_attachment(sequence_number: int, source_timestamp_ns: int, gid: bytes) -> bytes:
    """Encode the three fields; the GID must be exactly 16 bytes."""
    if len(gid) != GID_SIZE:
        raise AttachmentError(f"GID must be {GID_SIZE} bytes, got {len(gid)}")
    try:
        return _LAYOUT.pack(sequence_number, source_timestamp_ns, GID_SIZE, gid)
    except struct.error as exc:
        raise AttachmentError(f"cannot encode attachment: {exc}") from exc


def parse_attachment(data: bytes | bytearray | memoryview | None) -> Attachment:
    """Decode an attachment; anything but the exact 33-byte layout raises AttachmentError."""
    if data is None:
        raise AttachmentError("sample has no attachment")
    if len(data) != ATTACHMENT_SIZE:
        raise AttachmentError(f"attachment is {len(data)} bytes, expected {ATTACHMENT_SIZE}")
    seq, stamp, gid_len, gid = _LAYOUT.unpack(bytes(data))
    if gid_len != GID_SIZE:
        raise AttachmentError(f"attachment GID length is {gid_len}, expected {GID_SIZE}")
    return Attachment(seq, stamp, gid)
