"""Write rosbag2 bags (mcap or sqlite3) whose payloads come from our CDR codec.

Thin typed layer over rosbags' Writer: it registers each topic with the message definition and
RIHS01 hash of our typestore (vision_msgs and radar_msgs included), records the offered QoS in the
metadata, and serialises messages with `get_codec()` so the bytes in the bag are exactly the bytes
that cross our transports. `ros2 bag info` and `ros2 bag play` open the result.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from rosbags.interfaces import Connection, Qos, QosDurability, QosHistory, QosLiveliness, QosReliability
from rosbags.interfaces import QosTime as _QosTime
from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer, WriterError

from edge_llm_ros._compat import StrEnum
from edge_llm_ros.bags.errors import BagError
from edge_llm_ros.msgs import Distro, MessageCodec, build_typestore, get_codec
from edge_llm_ros.transport.qos import DEFAULT, Durability, History, QoSProfile, Reliability

if TYPE_CHECKING:
    from typing_extensions import Self

# Metadata version 8 is what Jazzy's rosbag2 writes; it keeps offered_qos_profiles as a YAML string,
# which Humble's reader also parses (version 9 turned it into a list that Humble rejects).
BAG_VERSION: Literal[8] = 8


class Storage(StrEnum):
    """rosbag2 storage plugins we write."""

    MCAP = "mcap"
    SQLITE3 = "sqlite3"


_PLUGINS = {Storage.MCAP: StoragePlugin.MCAP, Storage.SQLITE3: StoragePlugin.SQLITE3}


def _duration(seconds: float) -> _QosTime:
    # rmw treats 0/0 as "unspecified", i.e. the middleware default (infinite): the same as our 0.0.
    nanoseconds = round(seconds * 1e9)
    return _QosTime(nanoseconds // 1_000_000_000, nanoseconds % 1_000_000_000)


def to_rosbag_qos(profile: QoSProfile) -> Qos:
    """Our QoS profile as the rosbags record stored in `offered_qos_profiles`."""
    return Qos(
        history=QosHistory.KEEP_LAST if profile.history is History.KEEP_LAST else QosHistory.KEEP_ALL,
        depth=profile.depth if profile.history is History.KEEP_LAST else 0,
        reliability=(
            QosReliability.RELIABLE if profile.reliability is Reliability.RELIABLE else QosReliability.BEST_EFFORT
        ),
        durability=(
            QosDurability.TRANSIENT_LOCAL
            if profile.durability is Durability.TRANSIENT_LOCAL
            else QosDurability.VOLATILE
        ),
        deadline=_duration(profile.deadline_s),
        lifespan=_duration(profile.lifespan_s),
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=_duration(0.0),
        avoid_ros_namespace_conventions=False,
    )


class BagWriter:
    """Create one rosbag2 directory and write serialised messages into it.

    Use as a context manager; on an exception the bag is aborted (no metadata.yaml is written,
    so a half-written bag is never mistaken for a complete one).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        storage: Storage | str = Storage.MCAP,
        distro: Distro | None = None,
        compress: bool = False,
    ) -> None:
        """Prepare a writer for `path` (a directory that must not exist yet).

        `compress` enables zstd chunk compression (mcap) or file compression (sqlite3).
        """
        self.path = Path(path)
        self.storage = Storage(storage)
        self.codec: MessageCodec = get_codec(distro)
        self._store = build_typestore(self.codec.distro)
        try:
            self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=_PLUGINS[self.storage])
            if compress:
                mode = CompressionMode.STORAGE if self.storage is Storage.MCAP else CompressionMode.FILE
                self._writer.set_compression(mode, CompressionFormat.ZSTD)
        except WriterError as exc:
            raise BagError(str(exc)) from exc
        self._connections: dict[str, tuple[str, Connection]] = {}
        self._open = False

    def open(self) -> None:
        """Create the bag directory and storage file."""
        try:
            self._writer.open()
        except WriterError as exc:
            raise BagError(str(exc)) from exc
        self._open = True

    def add_topic(self, topic: str, typename: str, qos: QoSProfile = DEFAULT) -> None:
        """Register `topic` with its type (e.g. 'sensor_msgs/msg/Image') and offered QoS."""
        if topic in self._connections:
            raise BagError(f"topic {topic!r} already added")
        self.codec.msg_class(typename)
        try:
            conn = self._writer.add_connection(
                topic,
                typename,
                typestore=self._store,
                serialization_format="cdr",
                offered_qos_profiles=[to_rosbag_qos(qos)],
            )
        except WriterError as exc:
            raise BagError(str(exc)) from exc
        self._connections[topic] = (typename, conn)

    def set_custom_data(self, key: str, value: str) -> None:
        """A string stored under metadata.yaml `custom_data` (e.g. calibration, fault list)."""
        self._writer.set_custom_data(key, value)

    def write(self, topic: str, stamp_ns: int, msg: Any) -> int:
        """Serialise `msg` with the codec and record it at `stamp_ns`; returns the payload size."""
        typename, _ = self._connection(topic)
        return self.write_raw(topic, stamp_ns, self.codec.serialize(msg, typename))

    def write_raw(self, topic: str, stamp_ns: int, data: bytes) -> int:
        """Record already serialised CDR bytes (also deliberately malformed ones) at `stamp_ns`."""
        _, conn = self._connection(topic)
        self._writer.write(conn, int(stamp_ns), data)
        return len(data)

    def _connection(self, topic: str) -> tuple[str, Connection]:
        try:
            return self._connections[topic]
        except KeyError:
            raise BagError(f"topic {topic!r} was not added to {self.path}") from None

    def close(self) -> None:
        """Flush the storage and write metadata.yaml."""
        if self._open:
            self._open = False
            self._writer.close()

    def abort(self) -> None:
        """Stop without writing metadata."""
        if self._open:
            self._open = False
            self._writer.abort()

    def __enter__(self) -> Self:
        """Open the bag."""
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close on success, abort on error."""
        if exc_type is None:
            self.close()
        else:
            self.abort()
