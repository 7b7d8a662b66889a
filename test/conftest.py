"""Fixtures shared by every test package: the sample model store, built once and cached."""

from __future__ import annotations

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
    from edge_llm_ros.app.prepare import prepare_models

    # A store prepared earlier (on any Python) verifies without torch: CI's 3.10/3.12 runs share
    # the pytest cache of the 3.11 run, which has torch and builds the models.
    store = ModelStore(request.config.cache.mkdir("edge_llm_ros_model_store"))
    try:
        prepare_models(store, ["roi_classifier", "person_detector"])
    except ImportError as exc:
        pytest.skip(f"roi_classifier preparation needs {exc.name} (pip install '.[models]') and none is cached")
    return store
