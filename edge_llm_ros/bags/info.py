"""Summaries of a bag: topics, types, counts, rates, duration (`edge-llm-ros bag info`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge_llm_ros.bags.reader import BagReader


@dataclass(frozen=True)
class TopicSummary:
    """One topic of a bag; `rate_hz` is (count - 1) / (last - first record time), 0 below 2 messages."""

    name: str
    typename: str
    count: int
    first_ns: int
    last_ns: int

    @property
    def rate_hz(self) -> float:
        """Mean message rate over the topic's own span."""
        span = self.last_ns - self.first_ns
        return (self.count - 1) * 1e9 / span if self.count > 1 and span > 0 else 0.0


@dataclass(frozen=True)
class BagInfo:
    """Whole-bag summary, topics sorted by name."""

    path: Path
    storage: str
    size_bytes: int
    start_ns: int
    end_ns: int
    message_count: int
    topics: tuple[TopicSummary, ...]
    custom_data: dict[str, str]

    @property
    def duration_s(self) -> float:
        """Seconds between the first and the last message."""
        return max(0, self.end_ns - self.start_ns) / 1e9

    def topic(self, name: str) -> TopicSummary:
        """The summary of `name`; KeyError if absent."""
        for entry in self.topics:
            if entry.name == name:
                return entry
        raise KeyError(name)


def bag_info(path: str | Path) -> BagInfo:
    """Read the whole bag once (so rates are measured and damage is detected) and summarise it."""
    path = Path(path)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    counts: dict[str, int] = {}
    with BagReader(path) as reader:
        types = reader.topics
        for msg in reader.messages():
            first.setdefault(msg.topic, msg.stamp_ns)
            last[msg.topic] = msg.stamp_ns
            counts[msg.topic] = counts.get(msg.topic, 0) + 1
        storage = reader.storage
        custom = reader.custom_data
    topics = tuple(
        TopicSummary(name, types[name], counts.get(name, 0), first.get(name, 0), last.get(name, 0))
        for name in sorted(types)
    )
    files = [path] if path.is_file() else [p for p in path.iterdir() if p.is_file()]
    return BagInfo(
        path=path,
        storage=storage,
        size_bytes=sum(p.stat().st_size for p in files),
        start_ns=min(first.values(), default=0),
        end_ns=max(last.values(), default=0),
        message_count=sum(counts.values()),
        topics=topics,
        custom_data=custom,
    )


def format_bag_info(info: BagInfo) -> str:
    """A plain-text table like `ros2 bag info`, plus measured rates."""
    lines = [
        f"Bag:       {info.path}",
        f"Storage:   {info.storage}",
        f"Size:      {info.size_bytes / 1e6:.1f} MB",
        f"Duration:  {info.duration_s:.3f} s",
        f"Start:     {info.start_ns} ns",
        f"Messages:  {info.message_count}",
        "",
    ]
    header = ("Topic", "Type", "Count", "Rate (Hz)")
    rows = [(t.name, t.typename, str(t.count), f"{t.rate_hz:.2f}") for t in info.topics]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    fmt = f"{{:<{widths[0]}}}  {{:<{widths[1]}}}  {{:>{widths[2]}}}  {{:>{widths[3]}}}"
    lines.append(fmt.format(*header))
    lines.append(fmt.format(*("-" * w for w in widths)))
    lines.extend(fmt.format(*row) for row in rows)
    return "\n".join(lines)
