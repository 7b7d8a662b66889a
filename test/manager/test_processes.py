"""The lifecycle manager with real processes on zenoh (loopback): kill -9, SIGSTOP and hot-swap
during a paced replay. Every node instance is its own process, started by the same supervisor as
`edge-llm-ros run`; everything is bounded in time and torn down in `finally` (process groups killed).
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_llm_ros.app.looping_player import LoopingPlayer
from edge_llm_ros.app.output_probe import OutputProbe
from edge_llm_ros.app.run_session import RunOptions, RunSession
from edge_llm_ros.manager.roles import Role
from edge_llm_ros.nodes.manager_client import call_swap
from edge_llm_ros.runtime.lifecycle import State

from .conftest import wait_until
from .tiny_models import NAME, build_store

pytestmark = pytest.mark.slow

HAVE_CLASSIFIER = importlib.util.find_spec("edge_llm_ros.inference.classifier") is not None
START_S = 120.0  # cold interpreters importing zenoh, rosbags and onnxruntime on a busy 2-core box
DETECTIONS = "/edge_llm/detections"
DECISIONS = "/edge_llm/decision"


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edge_llm_ros.scenes import synthesize

    out = tmp_path_factory.mktemp("drive") / "bag"
    synthesize(out, scene="traffic", duration_s=6.0, seed=1)
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models") / "store"
    build_store(root)
    return root


def scene(tmp_path: Path, store: Path, kind: str, nodes: list[str]) -> RunSession:
    node_params: dict[str, dict[str, Any]] = {
        "roi_preprocess": {"person_detector.enabled": False, "model_store": str(store)},
        "vision_inference": {"model": NAME, "model_version": "1.0.0", "model_store": str(store)},
    }
    options = RunOptions(
        config=Path("traffic.yaml"),
        transport="zenoh",
        standbys={kind: 1},
        manager_params={
            "node_names": nodes,
            "model_store": str(store),
            "spawn_timeout_s": START_S,
            "respawn_backoff_s": 0.1,
            # A loaded CI box: keep false alarms out of the assertions, the benchmark measures speed.
            "heartbeat_timeout_s": 0.2,
            "restart_timeout_s": 2.0,
        },
        node_params=node_params,
        zenoh={"hub": f"tcp/127.0.0.1:{free_port()}", "domain_id": random.randint(1, 232)},
        run_dir=tmp_path / "run",
    )
    return RunSession(options)


@pytest.fixture
def running(tmp_path: Path, store: Path, bag: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    kind, nodes = request.param
    if kind == "vision_inference" and not HAVE_CLASSIFIER:
        pytest.skip("edge_llm_ros.inference.classifier (the vision node's model loader) is not there yet")
    session = scene(tmp_path, store, kind, nodes)
    player = None
    pids: list[int] = []
    try:
        session.start()
        pids = [i.pid for i in session.manager.instances() if i.pid]
        probe_node = session.bus.create_node("probe")
        probe = OutputProbe(probe_node)
        player = LoopingPlayer(probe_node, bag).start()
        output = probe.logs[DETECTIONS if kind == "vision_inference" else DECISIONS]
        assert wait_until(lambda: len(output.arrivals) >= 5, 60.0), f"no output; logs in {session.run_dir}"
        yield {"session": session, "probe": probe, "player": player, "kind": kind, "output": output}
    finally:
        if player is not None:
            player.stop()
        pids += [i.pid for i in session.manager.instances() if i.pid] if session.node is not None else []
        session.close()
    time.sleep(0.2)
    alive = [pid for pid in set(pids) if _alive(pid)]
    assert not alive, f"processes left behind: {alive}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (reaped by its parent soon).
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


PIPELINES = [
    pytest.param(("decision", ["sensor_fusion", "decision"]), id="decision"),
    pytest.param(
        ("vision_inference", ["sensor_fusion", "roi_preprocess", "vision_inference", "decision"]), id="vision"
    ),
]


def failover_once(run: dict[str, Any], sig: signal.Signals) -> dict[str, Any]:
    session, output, kind = run["session"], run["output"], run["kind"]
    manager = session.manager
    assert wait_until(lambda: bool(manager.group(kind).with_role(Role.STANDBY)), START_S)
    victim = manager.active_name(kind)
    before = len(manager.events("failover"))
    kill_ns = time.time_ns()
    pid = session.kill(victim, sig)
    assert wait_until(lambda: len(manager.events("failover")) > before, 10.0)
    event = manager.events("failover")[before]
    assert event["instance"] == victim and event["activated"] not in (None, victim)
    # Outputs resume from the standby.
    assert wait_until(lambda: any(recv > kill_ns for recv, _s, _c in output.arrivals), 10.0)
    # The failed process is gone for good (a stopped one too), and a new standby comes up.
    assert wait_until(lambda: not _alive(pid), 5.0)
    assert wait_until(
        lambda: any(i.state is State.INACTIVE for i in manager.group(kind).with_role(Role.STANDBY)), START_S
    )
    after = [recv for recv, _s, _c in output.arrivals if recv > kill_ns]
    before_kill = [recv for recv, _s, _c in output.arrivals if recv <= kill_ns]
    event["gap_ms"] = (min(after) - max(before_kill)) / 1e6
    return event


@pytest.mark.parametrize("running", PIPELINES, indirect=True)
def test_kill9_of_the_active_node_fails_over_during_replay(running: dict[str, Any]) -> None:
    event = failover_once(running, signal.SIGKILL)
    print(f"kill -9 {running['kind']}: {event['reason']}, output gap {event['gap_ms']:.0f} ms")
    # Decisions stay one per frame across the takeover.
    time.sleep(0.5)
    assert running["probe"].logs[DECISIONS].duplicates() == 0
    assert running["probe"].logs[DETECTIONS].duplicates() == 0


@pytest.mark.parametrize("running", PIPELINES, indirect=True)
def test_sigstop_of_the_active_node_is_detected_and_replaced(running: dict[str, Any]) -> None:
    event = failover_once(running, signal.SIGSTOP)
    assert "no heartbeat" in event["reason"] or "get_state" in event["reason"]
    print(f"SIGSTOP {running['kind']}: {event['reason']}, output gap {event['gap_ms']:.0f} ms")
    time.sleep(0.5)
    assert running["probe"].logs[DECISIONS].duplicates() == 0


VISION = [PIPELINES[1]]


@pytest.mark.parametrize("running", VISION, indirect=True)
def test_hot_swap_during_replay_drops_nothing_and_duplicates_nothing(running: dict[str, Any]) -> None:
    session, probe, player = running["session"], running["probe"], running["player"]
    manager = session.manager
    assert wait_until(lambda: bool(manager.group("vision_inference").with_role(Role.STANDBY)), START_S)
    client = session.bus.create_node("operator")
    start_ns = time.time_ns()
    result = call_swap(client, "/lifecycle_manager", "vision_inference", f"{NAME}@2.0.0", START_S)
    assert result["ok"] and result["outcome"] == "committed", result
    assert manager.group("vision_inference").model == f"{NAME}@2.0.0"
    time.sleep(1.0)
    end_ns = time.time_ns() - 500_000_000
    frames = [(s, c) for s, c, sent in player.frames if start_ns <= sent < end_ns]
    decisions = probe.logs[DECISIONS].keys()
    detections = probe.logs[DETECTIONS].keys()
    assert frames
    assert [f for f in frames if not decisions.get(f)] == []
    assert [f for f in frames if not detections.get(f)] == []
    assert probe.logs[DECISIONS].duplicates() == 0
    assert probe.logs[DETECTIONS].duplicates() == 0
    # Every instance left runs the new model.
    assert {i.model for i in manager.group("vision_inference").instances} == {f"{NAME}@2.0.0"}


@pytest.mark.parametrize("running", VISION, indirect=True)
def test_bad_models_are_rejected_and_the_old_one_keeps_serving(running: dict[str, Any]) -> None:
    session, output = running["session"], running["output"]
    manager = session.manager
    active = manager.active_name("vision_inference")
    client = session.bus.create_node("operator")
    for version, reason in (
        ("3.0.0", "sha256 mismatch"),
        ("4.0.0", "cannot load the model"),
        ("5.0.0", "shape"),
        ("6.0.0", "golden check failed"),
    ):
        result = call_swap(client, "/lifecycle_manager", "vision_inference", f"{NAME}@{version}", START_S)
        assert result["ok"] is False and result["outcome"] == "rejected", result
        assert reason in result["reason"], result
        assert manager.active_name("vision_inference") == active
        mark = time.time_ns()
        assert wait_until(lambda mark=mark: any(recv > mark for recv, _s, _c in output.arrivals), 5.0)
    assert manager.group("vision_inference").model in ("", f"{NAME}@1.0.0")
