"""A failover makes the black box write its window, and that bag replays to the same decisions.

The scene runs under the real lifecycle manager (`RunSession`, inproc) with a warm standby of the
decision node; the drive is fed over the bus in closed loop; mid-drive the active decision node
stops heartbeating (a hang), the manager fails over, and the recorder watching the manager dumps.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from edge_llm_ros.app.replay.driver import ReplayDriver
from edge_llm_ros.app.replay.session import ReplayOptions, run_replay
from edge_llm_ros.app.run_session import RunOptions, RunSession
from edge_llm_ros.config_files import find_config
from edge_llm_ros.models.store import ModelStore
from edge_llm_ros.ops.blackbox.recorder import (
    BlackBoxConfig,
    BlackBoxRecorder,
    Trigger,
    read_dump_metadata,
    sensor_topics,
)
from edge_llm_ros.scenes import synthesize

pytestmark = pytest.mark.slow


def test_failover_dump_replays_to_the_same_decisions(sample_model_store: ModelStore, tmp_path: Path) -> None:
    drive = tmp_path / "drive"
    synthesize(drive, scene="traffic", duration_s=4.0, seed=2)
    store = str(sample_model_store.root)
    options = RunOptions(
        config=find_config("traffic.yaml"),
        transport="inproc",
        standbys={"decision": 1},
        # Generous: a loaded box must not fail over anything but the node we hang.
        manager_params={"swap_validate": False, "heartbeat_timeout_s": 0.5, "get_state_period_s": 0.0},
        node_params={
            "vision_inference": {"model_store": store, "deadline_s": 0.0},
            "roi_preprocess": {"model_store": store},
            "decision": {"detection_timeout_s": 0.0},
        },
        run_dir=tmp_path / "run",
    )
    config = BlackBoxConfig(out_dir=tmp_path / "blackbox", window_s=30.0, triggers=frozenset({Trigger.FAILOVER}))
    with RunSession(options) as session:
        recorder = BlackBoxRecorder(session.bus, config, sensor_topics(session.document))
        try:
            recorder.watch_manager(lambda: session.manager.counters)
            driver = ReplayDriver(None, drive, context=session.node.context, frame_timeout_s=10.0)

            def hang_active_decision() -> None:
                deadline = time.monotonic() + 60.0
                while len(driver.result.decisions) < 15 and time.monotonic() < deadline:
                    time.sleep(0.01)
                node = session.spawner.nodes[session.manager.active_name("decision")]
                node.heartbeat.stop()  # the node "hangs": no more heartbeats

            hanger = threading.Thread(target=hang_active_decision, daemon=True)
            hanger.start()
            result = driver.run()
            hanger.join(5.0)
            deadline = time.monotonic() + 10.0
            while not recorder.dumps and time.monotonic() < deadline:
                time.sleep(0.05)
            failovers = session.manager.events("failover")
        finally:
            recorder.close()
    assert len(failovers) == 1 and failovers[0]["activated"] == "decision_standby_1"
    assert len(recorder.dumps) == 1
    dump = recorder.dumps[0]
    assert read_dump_metadata(dump)["reason"] == "failover"
    decided = {d.stamp_ns: d.decision_key() for d in result.decisions}
    assert len(decided) == result.frames_published == 40  # none lost across the failover

    again = run_replay(ReplayOptions(bag=dump, model_store=store))
    replayed = {d.stamp_ns: d.decision_key() for d in again.result.decisions}
    assert len(replayed) >= 15  # the frames before the hang at least
    differing = {s: (replayed[s], decided.get(s)) for s in replayed if replayed[s] != decided.get(s)}
    assert not differing, differing
