"""Reading and moving the std_msgs/Header at the front of a CDR message without decoding it.

A little-endian CDR message whose first field is a Header lays out: 4 bytes of encapsulation
(00 01 00 00), stamp.sec (int32) at 4, stamp.nanosec (uint32) at 8, then frame_id as a uint32
length (including the NUL) at 12 and its bytes from 16. Paths that touch every sample (the output
fence, the bench player) read these in place rather than build a message object.
"""

from __future__ import annotations

import struct

STAMP_OFFSET = 4
FRAME_ID_LENGTH_OFFSET = 12
FRAME_ID_OFFSET = 16


def is_little_endian(cdr: bytes) -> bool:
    """Whether the encapsulation header says CDR little-endian (the only layout read here)."""
    return len(cdr) >= FRAME_ID_OFFSET and cdr[1] == 1


def header_stamp_ns(cdr: bytes) -> int:
    """The header stamp in ns; raises struct.error on a truncated message."""
    sec, nanosec = struct.unpack_from("<iI", cdr, STAMP_OFFSET)
    return int(sec) * 1_000_000_000 + int(nanosec)


def header_frame_id(cdr: bytes) -> str:
    """The header frame_id; raises struct.error on a truncated message."""
    (length,) = struct.unpack_from("<I", cdr, FRAME_ID_LENGTH_OFFSET)
    return cdr[FRAME_ID_OFFSET : FRAME_ID_OFFSET + max(0, length - 1)].decode("utf-8", errors="replace")


def restamp(cdr: bytes, offset_ns: int) -> bytes:
    """The same message with its header stamp moved by `offset_ns`."""
    if offset_ns == 0:
        return cdr
    total = header_stamp_ns(cdr) + offset_ns
    end = STAMP_OFFSET + 8
    return cdr[:STAMP_OFFSET] + struct.pack("<iI", total // 1_000_000_000, total % 1_000_000_000) + cdr[end:]
