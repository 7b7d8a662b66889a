"""Hot-swap validation of a model before any node loads it.

`StoreValidator` is the manager's `validator` callback. For `kind`, `name@version` it:
1. resolves the model in the store and checks every file's sha256 against the manifest
   (a corrupt or tampered file is refused, naming the file and both hashes);
2. loads it with onnxruntime, which must agree with the manifest's input/output spec;
3. checks it is interface-compatible with the model the node kind serves now (same input and
   output names, dtypes and fixed dims), so a model with the wrong input shape never reaches
   the node;
4. runs the manifest's golden inputs and compares with the reference at the manifest's accuracy
   threshold.
Any failure raises ValueError whose message is the reason the swap reports. The node then loads
the same (sha256-pinned) bytes again in its own configure, so what was validated is what serves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from edge_llm_ros.models.errors import ModelError
from edge_llm_ros.models.manifest import Manifest, TensorSpec
from edge_llm_ros.models.store import ModelStore


def _fixed(spec: TensorSpec) -> tuple[object, ...]:
    # The batch dim (0) may differ; every other fixed size must match.
    return tuple(d if isinstance(d, int) else "?" for d in spec.shape[1:])


def interface_problems(candidate: Manifest, serving: Manifest) -> list[str]:
    """Ways `candidate` cannot stand in for `serving` (empty: compatible)."""
    problems: list[str] = []
    for group, new, old in (
        ("input", candidate.inputs, serving.inputs),
        ("output", candidate.outputs, serving.outputs),
    ):
        new_by = {s.name: s for s in new}
        for spec in old:
            got = new_by.get(spec.name)
            if got is None:
                problems.append(f"{group} {spec.name!r} of {serving.model_id} is missing")
                continue
            if got.dtype != spec.dtype:
                problems.append(f"{group} {spec.name!r}: dtype {got.dtype}, serving model has {spec.dtype}")
            if len(got.shape) != len(spec.shape) or _fixed(got) != _fixed(spec):
                problems.append(f"{group} {spec.name!r}: shape {list(got.shape)}, serving model has {list(spec.shape)}")
    return problems


class StoreValidator:
    """Validates swap targets from a model store (see the module docstring)."""

    def __init__(
        self,
        store: ModelStore | Path | str | None = None,
        serving_model: Callable[[str], str] | None = None,
        kinds: Mapping[str, str] | None = None,
        intra_op_threads: int = 1,
    ) -> None:
        """`serving_model(kind)` returns the model id a kind serves now ('' if unknown)."""
        self.store = store if isinstance(store, ModelStore) else ModelStore(store)
        self.serving_model = serving_model
        #: Expected manifest kind per node kind (e.g. vision_inference -> classifier).
        self.kinds = dict(kinds or {})
        self.intra_op_threads = intra_op_threads
        self._lock = threading.Lock()  # one validation at a time: it is CPU-heavy on a small box

    def __call__(self, kind: str, model_id: str) -> None:
        """Raise ValueError(reason) unless `model_id` may serve node kind `kind`."""
        from edge_llm_ros.inference.engine import EngineOptions, OrtEngine
        from edge_llm_ros.inference.golden_check import check_engine

        with self._lock:
            try:
                ref = self.store.resolve(model_id)
                ref.verify()
            except ModelError as exc:
                raise ValueError(str(exc)) from exc
            expected_kind = self.kinds.get(kind)
            if expected_kind and ref.manifest.kind != expected_kind:
                raise ValueError(f"{ref.model_id} is a {ref.manifest.kind}; {kind} needs a {expected_kind}")
            serving = self.serving_model(kind) if self.serving_model is not None else ""
            if serving:
                try:
                    serving_manifest = self.store.resolve(serving).manifest
                except ModelError:
                    serving_manifest = None  # the serving model left the store: nothing to compare
                if serving_manifest is not None:
                    problems = interface_problems(ref.manifest, serving_manifest)
                    if problems:
                        raise ValueError(f"{ref.model_id} does not fit {kind}: " + "; ".join(problems))
            try:
                engine = OrtEngine(ref, EngineOptions(intra_op_threads=self.intra_op_threads, warmup_runs=0))
                report = check_engine(engine)
            except ModelError as exc:
                raise ValueError(str(exc)) from exc
            except Exception as exc:  # onnxruntime refusing a corrupt graph raises its own types
                raise ValueError(f"{ref.model_id}: cannot be loaded: {type(exc).__name__}: {exc}") from exc
            if not report.passed:
                raise ValueError(f"golden check failed: {report.summary()}")
