"""One process per node on zenoh (loopback) gives the same decisions as the embedded inproc run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from edge_llm_ros.app.replay.session import ReplayOptions, run_replay
from edge_llm_ros.models.store import ModelStore
from edge_llm_ros.scenes import synthesize

pytestmark = pytest.mark.slow


def _node_processes(run_dir: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if str(run_dir) in line and "--node" in line]


def test_zenoh_processes_decide_like_inproc(sample_model_store: ModelStore, tmp_path: Path) -> None:
    drive = tmp_path / "drive"
    synthesize(drive, scene="traffic", duration_s=2.0, seed=6)
    store = str(sample_model_store.root)
    run_dir = tmp_path / "run"
    embedded = run_replay(ReplayOptions(bag=drive, model_store=store))
    processes = run_replay(ReplayOptions(bag=drive, model_store=store, transport="zenoh", run_dir=run_dir))

    inproc = {d.stamp_ns: d.decision_key() for d in embedded.result.decisions}
    zenoh = {d.stamp_ns: d.decision_key() for d in processes.result.decisions}
    assert len(inproc) == 20
    differing = {s: (zenoh.get(s), inproc[s]) for s in inproc if zenoh.get(s) != inproc[s]}
    assert not differing, f"{len(differing)} frames differ; first: {next(iter(differing.items()))}"
    # Every node ran in its own process and all of them are gone afterwards.
    logs = sorted(p.stem for p in (run_dir / "logs").glob("*.log"))
    assert logs == ["decision", "roi_preprocess", "sensor_fusion", "vision_inference"]
    assert _node_processes(run_dir) == [], f"left running: {_node_processes(run_dir)} (pid {os.getpid()})"
