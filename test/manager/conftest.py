"""Fixtures for the lifecycle manager tests: an in-process scene with a real manager node."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from edge_llm_ros.config_files import find_config
from edge_llm_ros.hosting.inproc_spawner import InprocSpawner
from edge_llm_ros.nodes.lifecycle_manager import LifecycleManagerNode
from edge_llm_ros.runtime.context import NodeContext, NodeOptions
from edge_llm_ros.runtime.executor import ExecutorThread
from edge_llm_ros.runtime.lifecycle import State
from edge_llm_ros.runtime.params import load_params_file
from edge_llm_ros.transport.inproc import InprocBus
from edge_llm_ros.transport.qos import QoSCatalog


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.005) -> bool:
    """Poll `predicate` until it holds or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


@dataclass
class Scene:
    """A manager node and the instances it spawned, all on one in-process bus."""

    bus: InprocBus
    context: NodeContext
    spawner: InprocSpawner
    node: LifecycleManagerNode
    spinner: ExecutorThread
    extra: list[Any] = field(default_factory=list)

    @property
    def manager(self) -> Any:
        return self.node.manager

    def close(self) -> None:
        try:
            self.node.destroy()
        finally:
            self.spawner.stop_all()
            self.spinner.stop()
            self.bus.close()


@pytest.fixture
def make_scene() -> Iterator[Callable[..., Scene]]:
    scenes: list[Scene] = []

    def make(
        node_names: list[str],
        standbys: Mapping[str, int] | None = None,
        activate: bool = True,
        params_document: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> Scene:
        bus = InprocBus()
        document = dict(params_document or load_params_file(find_config("traffic.yaml")))
        context = NodeContext(bus=bus, qos=QoSCatalog.from_yaml(find_config("qos.yaml")), params_document=document)
        spinner = ExecutorThread(context.executor, "test-executor").start()
        spawner = InprocSpawner(context)
        overrides: dict[str, Any] = {
            "node_names": node_names,
            "swap_validate": False,
            # Generous in tests: a loaded CI box must not produce false failovers.
            "heartbeat_timeout_s": 0.5,
            "node_heartbeat_period_s": 0.01,
            "get_state_period_s": 0.0,
            "respawn_backoff_s": 0.0,
            "diagnostics_period_s": 0.0,
        }
        overrides.update({f"standbys.{k}": v for k, v in (standbys or {}).items()})
        overrides.update(params)
        node = LifecycleManagerNode(context, NodeOptions("lifecycle_manager", parameter_overrides=overrides))
        node.spawner = spawner
        scene = Scene(bus, context, spawner, node, spinner)
        scenes.append(scene)
        assert node.configure() is State.INACTIVE, node.last_error
        if activate:
            assert node.activate() is State.ACTIVE, node.last_error
        return scene

    yield make
    for scene in scenes:
        scene.close()
