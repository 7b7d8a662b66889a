"""Swap validation against a real model store: each bad model is refused with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_llm_ros.manager.validation import StoreValidator
from edge_llm_ros.models.store import ModelStore

from .tiny_models import NAME, build_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    return build_store(tmp_path_factory.mktemp("tiny_store"))


@pytest.fixture
def validator(store: ModelStore) -> StoreValidator:
    return StoreValidator(store, serving_model=lambda kind: f"{NAME}@1.0.0", kinds={"vision_inference": "classifier"})


def test_a_good_model_passes(validator: StoreValidator) -> None:
    validator("vision_inference", f"{NAME}@2.0.0")


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("3.0.0", "sha256 mismatch"),
        ("4.0.0", "cannot load the model"),
        ("5.0.0", "shape"),
        ("6.0.0", "golden check failed"),
        ("9.9.9", "not in the store"),
    ],
)
def test_bad_models_are_refused_with_their_reason(validator: StoreValidator, version: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validator("vision_inference", f"{NAME}@{version}")


def test_wrong_kind_of_model_is_refused(store: ModelStore) -> None:
    validator = StoreValidator(store, kinds={"roi_preprocess": "detector"})
    with pytest.raises(ValueError, match="is a classifier; roi_preprocess needs a detector"):
        validator("roi_preprocess", f"{NAME}@2.0.0")


def test_tampered_file_after_prepare_is_refused(store: ModelStore, tmp_path: Path) -> None:
    import shutil

    copy = ModelStore(tmp_path / "copy")
    shutil.copytree(store.root / NAME / "2.0.0", copy.root / NAME / "2.0.0")
    golden = copy.root / NAME / "2.0.0" / "golden.npz"
    golden.write_bytes(golden.read_bytes()[:-10])
    with pytest.raises(ValueError, match="sha256 mismatch"):
        StoreValidator(copy)("vision_inference", f"{NAME}@2.0.0")
