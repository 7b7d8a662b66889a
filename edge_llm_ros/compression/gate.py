"""The deployment gate every candidate model passes: the one implementation behind hot-swap and `optimize check`.

1. `verify_candidate`: resolve `name@version` in the store and check every listed file against its
   manifest sha256. A candidate whose bytes are not the ones its manifest pins is refused here,
   before anything parses it.
2. `golden_gate`: load it with onnxruntime (its I/O must match the manifest's spec) and run the
   manifest's golden inputs against the golden reference at the manifest's threshold
   (`inference.golden_check.check_engine`: agreement >= 1 - accuracy.max_drop).

The lifecycle manager's `StoreValidator` runs exactly these two steps for a hot-swap (plus its
node-specific interface check); `optimize check` runs them and then measures the candidate against
a baseline on held-out crops of real drives (compression.check). Every refusal is a
`GateRefusedError` whose message is the reason, so both callers report the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge_llm_ros.models.errors import ModelError
from edge_llm_ros.models.manifest import Manifest, TensorSpec
from edge_llm_ros.models.store import ModelRef, ModelStore

if TYPE_CHECKING:  # onnxruntime is imported only when a gate actually loads a model
    from edge_llm_ros.inference.engine import OrtEngine
    from edge_llm_ros.inference.golden_check import GoldenReport


class GateRefusedError(ModelError):
    """A candidate that must not be deployed; the message says why.

    When the model loaded but failed its golden check, `engine` and `golden` hold the loaded engine
    and the failing report (so a caller can still measure how far off it is); else both are None.
    """

    def __init__(self, reason: str, engine: OrtEngine | None = None, golden: GoldenReport | None = None) -> None:
        """Keep the reason as the message."""
        super().__init__(reason)
        self.engine = engine
        self.golden = golden


@dataclass(frozen=True)
class GateResult:
    """A candidate that passed: its verified ref, the loaded engine and its golden report."""

    ref: ModelRef
    engine: OrtEngine
    golden: GoldenReport


def _fixed(spec: TensorSpec) -> tuple[object, ...]:
    # The batch dim (0) may differ; every other fixed size must match.
    return tuple(d if isinstance(d, int) else "?" for d in spec.shape[1:])


def interface_problems(candidate: Manifest, serving: Manifest) -> list[str]:
    """Ways `candidate` cannot stand in for `serving` in a running node (empty: compatible).

    Same input and output names and dtypes, same rank and same fixed sizes beyond the batch dim.
    """
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


def verify_candidate(store: ModelStore, model_id: str) -> ModelRef:
    """Resolve `model_id` and check every file's sha256; raises GateRefusedError naming the file and both hashes."""
    try:
        ref = store.resolve(model_id)
        ref.verify()
    except ModelError as exc:
        raise GateRefusedError(str(exc)) from exc
    return ref


def golden_gate(ref: ModelRef, *, intra_op_threads: int = 1) -> GateResult:
    """Load a verified candidate and run its golden check; raises GateRefusedError unless it passes."""
    from edge_llm_ros.inference.engine import EngineOptions, OrtEngine
    from edge_llm_ros.inference.golden_check import check_engine

    try:
        engine = OrtEngine(ref, EngineOptions(intra_op_threads=intra_op_threads, warmup_runs=0))
        report = check_engine(engine)
    except ModelError as exc:
        raise GateRefusedError(str(exc)) from exc
    except Exception as exc:  # onnxruntime refusing a corrupt graph raises its own types
        raise GateRefusedError(f"{ref.model_id}: cannot be loaded: {type(exc).__name__}: {exc}") from exc
    if not report.passed:
        raise GateRefusedError(f"golden check failed: {report.summary()}", engine, report)
    return GateResult(ref=ref, engine=engine, golden=report)


def gate_candidate(store: ModelStore, model_id: str, *, intra_op_threads: int = 1) -> GateResult:
    """`verify_candidate` then `golden_gate`: what a model must pass before it may serve."""
    return golden_gate(verify_candidate(store, model_id), intra_op_threads=intra_op_threads)
