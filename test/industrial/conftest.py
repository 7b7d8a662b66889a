"""Industrial fixtures: a short generated conveyor run, and the defect classifier trained once.

The classifier is trained with the shipped plan (about 1.5 min on 2 idle cores: a smaller plan
saves little, because dents are learnt only after a few thousand steps), so the end-to-end test
checks the model `models prepare` ships. Its version names a digest of the plan and of the code
that segments, crops and trains, so a change retrains instead of reusing a stale cached model.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from edge_llm_ros.models.store import ModelStore
from edge_llm_ros.scenes import synthesize
from edge_llm_ros.sim import SynthResult

CODE = Path(__file__).resolve().parents[2] / "edge_llm_ros"


@pytest.fixture(scope="session")
def conveyor_run(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    """2 s of conveyor (20 frames), seed 4: parts entering, whole and leaving, with defects."""
    return synthesize(tmp_path_factory.mktemp("conveyor") / "bag", scene="industrial", duration_s=2.0, seed=4)


@pytest.fixture(scope="session")
def defect_store(request: pytest.FixtureRequest) -> ModelStore:
    """defect_classifier trained with the shipped plan, cached under the pytest cache dir."""
    from edge_llm_ros.app.prepare.defect_classifier import DEFAULT_PLAN, NAME, prepare_defect_classifier

    plan = DEFAULT_PLAN
    digest = hashlib.sha256(repr(plan).encode())
    for path in [*sorted(CODE.glob("industrial/*.py")), *sorted(CODE.glob("app/prepare/defect_*.py"))]:
        digest.update(path.read_bytes())
    version = f"0.0.1-test.{digest.hexdigest()[:10]}"
    store = ModelStore(Path(request.config.cache.mkdir("edge_llm_ros_defect_store")))
    for old in store.versions(NAME):
        if old != version:
            store.remove(NAME, old)
    try:  # a verified cached version needs no torch (CI's 3.10/3.12 runs reuse the 3.11 cache)
        prepare_defect_classifier(store, plan=plan, version=version)
    except ImportError as exc:
        pytest.skip(f"training defect_classifier needs {exc.name} (pip install '.[models]') and none is cached")
    return store
