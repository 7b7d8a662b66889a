"""CDR (de)serialisation shared by every transport and by bag I/O.

Payloads are CDR with the 4-byte encapsulation header, byte for byte what rclpy, rmw_zenoh and
rosbag2 produce, so a message can cross any adapter or land in a bag without re-encoding.
"""

from __future__ import annotations

import functools
from typing import Any

from edge_llm_ros.msgs.type_hash import rihs01
from edge_llm_ros.msgs.typestore import Distro, build_typestore, default_distro

# CDR_LE / CDR_BE and their parameter-list variants: the only encapsulations ROS 2 emits.
_VALID_ENCAPSULATIONS = {b"\x00\x00", b"\x00\x01", b"\x00\x02", b"\x00\x03"}


class CodecError(ValueError):
    """A payload that is not a valid CDR encoding of the expected type, or an unknown type."""


class MessageCodec:
    """Serialise, deserialise and describe ROS 2 messages of one distro."""

    def __init__(self, distro: Distro) -> None:
        self.distro = distro
        self._store = build_typestore(distro)

    def msg_class(self, typename: str) -> Any:
        """The dataclass for `typename` (e.g. 'sensor_msgs/msg/Image')."""
        try:
            return self._store.types[typename]
        except KeyError:
            raise CodecError(f"unknown message type {typename!r} for ROS 2 {self.distro}") from None

    def knows(self, typename: str) -> bool:
        """Whether `typename` is registered."""
        return typename in self._store.types

    def serialize(self, msg: Any, typename: str | None = None) -> bytes:
        """Little-endian CDR with encapsulation header."""
        name = typename or msg.__msgtype__
        self.msg_class(name)
        try:
            return bytes(self._store.serialize_cdr(msg, name))
        except Exception as exc:  # rosbags raises struct/attribute/type errors on bad fields
            raise CodecError(f"cannot serialise {name}: {exc}") from exc

    def deserialize(self, data: bytes | bytearray | memoryview, typename: str) -> Any:
        """Decode a CDR payload; any malformed input raises CodecError, never anything else."""
        self.msg_class(typename)
        raw = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        if len(raw) < 4 or bytes(raw[:2]) not in _VALID_ENCAPSULATIONS:
            raise CodecError(f"{typename}: payload of {len(raw)} bytes has no CDR encapsulation header")
        try:
            return self._store.deserialize_cdr(raw, typename)
        except Exception as exc:  # truncated buffers surface as IndexError/struct.error/ValueError
            raise CodecError(f"{typename}: malformed CDR payload of {len(raw)} bytes ({exc})") from exc

    def type_hash(self, typename: str) -> str:
        """RIHS01 hash as rosidl forms it; Humble has none and uses rmw_zenoh's placeholder."""
        self.msg_class(typename)
        if not self.distro.has_type_hashes:
            return "TypeHashNotSupported"
        # Our own hasher, not rosbags': rosidl hashes a .msg `char` as uint8, rosbags as CHAR.
        return rihs01(typename, self._store.fielddefs)

    def definition(self, typename: str) -> str:
        """The message definition text (msgdef) as stored in rosbag2 metadata."""
        text, _ = self._store.generate_msgdef(typename, ros_version=2)
        return text


@functools.cache
def get_codec(distro: Distro | None = None) -> MessageCodec:
    """The process-wide codec for `distro` (default: ROS_DISTRO, else Jazzy)."""
    return MessageCodec(distro or default_distro())
