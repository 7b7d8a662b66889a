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
Steps 1, 2 and 4 are `edge_llm_ros.compression.gate` (verify_candidate, golden_gate): the same
code `edge-llm-ros optimize check` gates compressed models with.
Any failure raises ValueError whose message is the reason the swap reports. The node then loads
the same (sha256-pinned) bytes again in its own configure, so what was validated is what serves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from edge_llm_ros.compression.gate import GateRefusedError, golden_gate, interface_problems, verify_candidate
from edge_llm_ros.models.errors import ModelError
from edge_llm_ros.models.store import ModelStore

__all__ = ["StoreValidator", "interface_problems"]


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
        with self._lock:
            try:
                ref = verify_candidate(self.store, model_id)
            except GateRefusedError as exc:
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
                # The same golden gate `edge-llm-ros optimize check` runs (compression.gate).
                golden_gate(ref, intra_op_threads=self.intra_op_threads)
            except GateRefusedError as exc:
                raise ValueError(str(exc)) from exc
