"""Hot-swap of the vision node on the in-process bus: validation refusals and rollback."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge_llm_ros.config_files import find_config
from edge_llm_ros.runtime.lifecycle import State
from edge_llm_ros.runtime.params import load_params_file

from .conftest import Scene
from .tiny_models import NAME, build_store

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("edge_llm_ros.inference.classifier") is None,
    reason="edge_llm_ros.inference.classifier (the vision node's model loader) is not there yet",
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models") / "store"
    build_store(root)
    return root


def vision_scene(make_scene: Callable[..., Scene], store: Path, **params: Any) -> Scene:
    document = load_params_file(find_config("traffic.yaml"))
    vision = document["vision_inference"]["ros__parameters"]
    vision.update(model=NAME, model_version="1.0.0", model_store=str(store))
    return make_scene(
        ["vision_inference"],
        {"vision_inference": 1},
        params_document=document,
        swap_validate=True,
        model_store=str(store),
        **params,
    )


def test_each_bad_model_is_refused_and_the_old_one_keeps_serving(make_scene: Callable[..., Scene], store: Path) -> None:
    scene = vision_scene(make_scene, store)
    manager = scene.manager
    assert manager.group("vision_inference").model == f"{NAME}@1.0.0"
    for version, reason in (
        ("3.0.0", "sha256 mismatch"),
        ("4.0.0", "cannot load the model"),
        ("5.0.0", "shape"),
        ("6.0.0", "golden check failed"),
    ):
        result = manager.swap("vision_inference", f"{NAME}@{version}")
        assert (result.ok, result.outcome) == (False, "rejected"), result
        assert reason in result.reason
        assert manager.active_name("vision_inference") == "vision_inference"
        assert scene.spawner.nodes["vision_inference"].state is State.ACTIVE
        assert set(manager.roles("vision_inference")) == {"vision_inference", "vision_inference_standby_1"}
    assert manager.group("vision_inference").model == f"{NAME}@1.0.0"


def test_a_new_model_that_never_serves_is_rolled_back(make_scene: Callable[..., Scene], store: Path) -> None:
    # No input flows, so the new instance publishes nothing: after swap_serve_timeout_s the old
    # instance (kept loaded) is active again and the candidate is gone.
    scene = vision_scene(make_scene, store, swap_serve_timeout_s=0.3)
    manager = scene.manager
    result = manager.swap("vision_inference", f"{NAME}@2.0.0")
    assert (result.ok, result.outcome) == (False, "rolled_back"), result
    assert "published nothing" in result.reason
    assert manager.active_name("vision_inference") == "vision_inference"
    assert scene.spawner.nodes["vision_inference"].state is State.ACTIVE
    assert manager.roles("vision_inference") == {"vision_inference": "active", "vision_inference_standby_1": "standby"}
    assert manager.group("vision_inference").model == f"{NAME}@1.0.0"
    assert manager.counters["rollbacks"] == 1
