"""The scene registry: a scene is one module here (registered in SCENE_MODULES), one YAML, one launch file.

The YAML is config/<name>.yaml, the launch file launch/<name>.launch.py. Scene modules are
imported on first use, so asking for the names (the decision node's parameter choices, the
command line) loads no scene's components.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path

from edge_llm_ros.bags import Storage
from edge_llm_ros.msgs import Distro, MessageCodec, get_codec
from edge_llm_ros.scenes.base import DriveGenerator, Scene
from edge_llm_ros.sim.synth import SynthResult, write_scene

#: Scene name -> module defining `SCENE`.
SCENE_MODULES: dict[str, str] = {
    "traffic": "edge_llm_ros.scenes.traffic",
    "industrial": "edge_llm_ros.scenes.industrial",
    "conveyor_audit": "edge_llm_ros.scenes.conveyor_audit",
}


def scene_names() -> tuple[str, ...]:
    """Every registered scene, in registration order."""
    return tuple(SCENE_MODULES)


def get_scene(name: str) -> Scene:
    """The registered scene `name`; unknown names list the known ones."""
    if name not in SCENE_MODULES:
        raise ValueError(f"unknown scene {name!r}; known: {', '.join(SCENE_MODULES)}")
    scene = importlib.import_module(SCENE_MODULES[name]).SCENE
    if not isinstance(scene, Scene) or scene.name != name:
        raise TypeError(f"{SCENE_MODULES[name]}.SCENE is not the Scene {name!r}")
    return scene


def make_scene(
    scene: str, *, duration_s: float, seed: int, faults: bool = False, codec: MessageCodec | None = None
) -> DriveGenerator:
    """The sample-drive generator of a registered scene."""
    return get_scene(scene).make_generator(duration_s, seed, faults, codec or get_codec())


def synthesize(
    out: str | Path,
    *,
    scene: str = "traffic",
    duration_s: float = 20.0,
    seed: int = 0,
    storage: Storage | str = Storage.MCAP,
    faults: bool = False,
    distro: Distro | None = None,
    compress: bool = False,
    progress: Callable[[int], None] | None = None,
) -> SynthResult:
    """Generate a drive of `scene` and write it as a rosbag2 directory `out` (which must not exist).

    `progress` is called with 1 after each camera frame (frame_count calls in total).
    """
    began = time.perf_counter()
    codec = get_codec(distro)
    generator = make_scene(scene, duration_s=duration_s, seed=seed, faults=faults, codec=codec)
    return write_scene(
        generator, out, scene=scene, storage=storage, distro=distro, compress=compress, progress=progress, began=began
    )


__all__ = ["SCENE_MODULES", "Scene", "get_scene", "make_scene", "scene_names", "synthesize"]
