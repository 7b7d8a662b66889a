"""The LLM never sits on the safety path: decisions are the same with the LLM node on or off."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_llm_ros.app.replay.report import advisory_summary
from edge_llm_ros.app.replay.session import ReplayOptions, run_replay
from edge_llm_ros.models.store import ModelStore
from edge_llm_ros.scenes import synthesize

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_llm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnxruntime_genai", reason="the LLM node needs onnxruntime-genai (pip install -e '.[llm]')")
    pytest.importorskip("transformers", reason="building the tiny test LLM needs transformers")
    from edge_llm_ros.llm.builder import build_tiny_test_model

    return build_tiny_test_model(tmp_path_factory.mktemp("llm") / "tiny")


def test_decisions_identical_with_llm_on_and_off(
    tiny_llm: Path, sample_model_store: ModelStore, tmp_path: Path
) -> None:
    drive = tmp_path / "drive"
    synthesize(drive, scene="traffic", duration_s=3.0, seed=5)
    store = str(sample_model_store.root)
    off = run_replay(ReplayOptions(bag=drive, model_store=store))
    on = run_replay(
        ReplayOptions(
            bag=drive,
            model_store=store,
            llm=True,
            overrides={
                "llm_inference": {"model_dir": str(tiny_llm), "max_new_tokens": 48, "deadline_s": 30.0},
                "decision": {"llm.rate_hz": 2.0},
            },
        )
    )

    def keys(outcome):  # type: ignore[no-untyped-def]
        return [d.decision_key() for d in sorted(outcome.result.decisions, key=lambda d: d.stamp_ns)]

    assert len(on.result.decisions) == on.result.frames_published == 30
    assert keys(on) == keys(off)
    # Every decision went out before its advisory (if any) could: the advisory carries the
    # frame stamp and arrives later than that frame's decision.
    decided = on.result.received_ns
    for advisory in on.result.advisories:
        assert advisory["received_ns"] >= decided[int(advisory["stamp_ns"])]
    summary = advisory_summary(on.result, on.counters["decision"]["llm_requests"])
    assert summary["requests"] == 6  # 2 Hz over 3 s of sensor time, rate-limited on stamps
    # The LLM ran in its own process; whatever it published is schema-valid advice for a frame
    # it was asked about (the rest were rejected as invalid or cancelled there, and counted).
    assert summary["published"] + summary["not_published"] == 6
    assert {a["stamp_ns"] for a in on.result.advisories} <= set(on.result.injected_ns)
    assert all(a["schema"] == "edge_llm_ros/advisory_record/1" for a in on.result.advisories)
