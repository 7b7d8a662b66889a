"""Write a generated sample drive to a rosbag2 (`edge-llm-ros bag synth`; scenes.synthesize picks the generator)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from edge_llm_ros.bags import BagWriter, Storage
from edge_llm_ros.msgs import Distro
from edge_llm_ros.sim.records import GROUND_TRUTH_TOPIC, BagRecord, Fault, TopicSpec


class Scene(Protocol):
    """What a scene generator offers the bag writer."""

    name: str
    frame_count: int
    faults: list[Fault]

    def topics(self) -> list[TopicSpec]:
        """Topics with types and QoS."""
        ...

    def records(self) -> Iterator[BagRecord]:
        """Messages in record-time order."""
        ...

    def custom_data(self) -> dict[str, str]:
        """metadata.yaml custom_data, complete once records() is exhausted."""
        ...


@dataclass(frozen=True)
class SynthResult:
    """What was written."""

    path: Path
    scene: str
    frames: int
    messages: int
    payload_bytes: int
    seconds: float
    faults: list[Fault] = field(default_factory=list)


def write_scene(
    generator: Scene,
    out: str | Path,
    *,
    scene: str,
    storage: Storage | str = Storage.MCAP,
    distro: Distro | None = None,
    compress: bool = False,
    progress: Callable[[int], None] | None = None,
    began: float | None = None,
) -> SynthResult:
    """Write what `generator` generates as a rosbag2 directory `out` (which must not exist).

    Which generator a scene name means is the scene registry's business
    (edge_llm_ros.scenes.synthesize); this only writes. `progress` is called with 1 after each
    camera frame (frame_count calls in total).
    """
    began = time.perf_counter() if began is None else began
    messages = payload = 0
    with BagWriter(out, storage=storage, distro=distro, compress=compress) as writer:
        for spec in generator.topics():
            writer.add_topic(spec.name, spec.typename, spec.qos)
        for record in generator.records():
            if isinstance(record.payload, bytes | bytearray):
                payload += writer.write_raw(record.topic, record.stamp_ns, bytes(record.payload))
            else:
                payload += writer.write(record.topic, record.stamp_ns, record.payload)
            messages += 1
            if progress is not None and record.topic == GROUND_TRUTH_TOPIC:
                progress(1)
        for key, value in generator.custom_data().items():
            writer.set_custom_data(key, value)
    return SynthResult(
        path=Path(out),
        scene=scene,
        frames=generator.frame_count,
        messages=messages,
        payload_bytes=payload,
        seconds=time.perf_counter() - began,
        faults=list(generator.faults),
    )
