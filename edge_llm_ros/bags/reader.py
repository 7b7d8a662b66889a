"""Read rosbag2 bags (mcap or sqlite3) as (topic, typename, stamp_ns, cdr bytes) in time order.

Every failure, whether the path is missing, the directory is not a bag, the file is truncated or
garbage sits inside it, surfaces as `BagError` naming the bag. Because rosbags reads some damaged
mcap files without complaint (its chunks carry no checksum), a full read also checks the number
of messages read against the counts the bag declares.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple

import yaml
from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader

from edge_llm_ros.bags.errors import BagError
from edge_llm_ros.msgs import CodecError, Distro, MessageCodec, get_codec

if TYPE_CHECKING:
    from typing_extensions import Self

# Damaged storage makes the parsers fail in many ways (ReaderError, struct.error, OverflowError from
# garbage record lengths, sqlite3.DatabaseError, yaml errors, ...): any Exception while reading is
# reported as damage.
_READ_ERRORS = (Exception,)


class BagMessage(NamedTuple):
    """One recorded message: its topic, type, record time and CDR payload (with encapsulation header)."""

    topic: str
    typename: str
    stamp_ns: int
    data: bytes


class BagReader:
    """Open a rosbag2 directory (or a bare .mcap / .db3 file) for reading."""

    def __init__(self, path: str | Path, *, distro: Distro | None = None) -> None:
        """Remember `path`; `distro` picks the codec `decode` uses."""
        self.path = Path(path)
        self.codec: MessageCodec = get_codec(distro)
        self._reader: Reader | None = None

    def open(self) -> None:
        """Open the bag; a missing, foreign or damaged bag raises BagError."""
        if not self.path.exists():
            raise BagError(f"{self.path}: no such bag")
        if self.path.is_dir() and not (self.path / "metadata.yaml").exists():
            raise BagError(f"{self.path}: not a rosbag2 directory (no metadata.yaml)")
        try:
            reader = Reader(self.path)
            reader.open()
        except _READ_ERRORS as exc:
            raise BagError(f"{self.path}: cannot open bag, it is truncated or corrupt ({exc})") from exc
        self._reader = reader

    def close(self) -> None:
        """Release the storage files."""
        reader, self._reader = self._reader, None
        if reader is not None:
            # nothing useful to do about a failing close of a read-only file
            with contextlib.suppress(*_READ_ERRORS):
                reader.close()

    @property
    def _open_reader(self) -> Reader:
        if self._reader is None:
            raise BagError(f"{self.path}: bag is not open")
        return self._reader

    @property
    def topics(self) -> dict[str, str]:
        """Topic name -> message type name."""
        return {c.topic: c.msgtype for c in self._open_reader.connections}

    @property
    def counts(self) -> dict[str, int]:
        """Topic name -> number of messages the bag declares."""
        found: Counter[str] = Counter()
        for conn in self._open_reader.connections:
            found[conn.topic] += conn.msgcount
        return dict(found)

    @property
    def start_ns(self) -> int:
        """Record time of the first message."""
        return int(self._open_reader.start_time)

    @property
    def end_ns(self) -> int:
        """Record time just after the last message (rosbags' convention: last + 1)."""
        return int(self._open_reader.end_time)

    @property
    def message_count(self) -> int:
        """Total number of messages the bag declares."""
        return int(self._open_reader.message_count)

    @property
    def storage(self) -> str:
        """'mcap' or 'sqlite3'."""
        files = [self.path] if self.path.is_file() else sorted(self.path.iterdir())
        for entry in files:
            if entry.suffix == ".mcap" or entry.name.endswith(".mcap.zstd"):
                return "mcap"
            if entry.suffix == ".db3" or entry.name.endswith(".db3.zstd"):
                return "sqlite3"
        return "unknown"

    @property
    def custom_data(self) -> dict[str, str]:
        """metadata.yaml `custom_data` (empty for a bare storage file)."""
        meta = self.path / "metadata.yaml"
        if not meta.is_file():
            return {}
        try:
            info = yaml.safe_load(meta.read_text(encoding="utf-8"))["rosbag2_bagfile_information"]
        except (yaml.YAMLError, KeyError, TypeError) as exc:
            raise BagError(f"{self.path}: unreadable metadata.yaml ({exc})") from exc
        return {str(k): str(v) for k, v in (info.get("custom_data") or {}).items()}

    def messages(
        self,
        topics: Iterable[str] | None = None,
        *,
        start_ns: int | None = None,
        stop_ns: int | None = None,
    ) -> Iterator[BagMessage]:
        """Messages in record-time order, optionally only on `topics` and in [start_ns, stop_ns).

        An unknown topic in `topics` is an error. When the whole time range is read, the number
        of messages per topic must match the bag's declared counts, else BagError (truncated).
        """
        reader = self._open_reader
        wanted = None if topics is None else set(topics)
        known = self.topics
        if wanted is not None and (missing := wanted - set(known)):
            raise BagError(f"{self.path}: no topic(s) {sorted(missing)}; bag has {sorted(known)}")
        conns: list[Connection] = [c for c in reader.connections if wanted is None or c.topic in wanted]
        if not conns:
            return
        seen: Counter[str] = Counter()
        try:
            for conn, stamp, raw in reader.messages(conns, start=start_ns, stop=stop_ns):
                seen[conn.topic] += 1
                yield BagMessage(conn.topic, conn.msgtype, int(stamp), bytes(raw))
        except _READ_ERRORS as exc:
            raise BagError(f"{self.path}: bag is truncated or corrupt ({exc})") from exc
        if start_ns is None and stop_ns is None:
            declared = self.counts
            for conn in conns:
                if seen[conn.topic] != declared[conn.topic]:
                    raise BagError(
                        f"{self.path}: bag is truncated or corrupt: read {seen[conn.topic]} of "
                        f"{declared[conn.topic]} messages on {conn.topic}"
                    )

    def decode(self, message: BagMessage) -> Any:
        """Deserialise a message with the codec; malformed payloads raise CodecError."""
        return self.codec.deserialize(message.data, message.typename)

    def decoded(self, topics: Iterable[str] | None = None) -> Iterator[tuple[BagMessage, Any]]:
        """Messages with their decoded form; a payload that does not decode yields None instead."""
        for message in self.messages(topics):
            try:
                yield message, self.decode(message)
            except CodecError:
                yield message, None

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
        """Close the bag."""
        self.close()


def read_messages(path: str | Path, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
    """Iterate (topic, typename, stamp_ns, data) of a bag in time order; see BagReader.messages."""
    with BagReader(path) as reader:
        yield from reader.messages(topics)
