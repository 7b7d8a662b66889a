"""The lifecycle manager on the in-process bus with real nodes: bring-up, health, failover, services."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from edge_llm_ros.manager.config import ManagerConfig
from edge_llm_ros.manager.roles import Role
from edge_llm_ros.nodes.manager_client import call_swap, call_trigger
from edge_llm_ros.runtime.lifecycle import State
from edge_llm_ros.transport.qos import QoSProfile

from .conftest import Scene, wait_until

MANAGER = "/lifecycle_manager"


def node_state(scene: Scene, name: str) -> State:
    return scene.spawner.nodes[name].state


def test_bring_up_configures_all_then_activates_in_order(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene(["sensor_fusion", "decision"], {"decision": 1}, activate=False)
    # Every instance's transition events; Sample.arrival orders them across topics.
    watcher = scene.bus.create_node("watcher")
    event_type = "lifecycle_msgs/msg/TransitionEvent"
    subs = {
        name: watcher.create_subscription(f"/{name}/transition_event", event_type, QoSProfile(depth=50))
        for name in ("sensor_fusion", "decision", "decision_standby_1")
    }
    assert scene.node.activate() is State.ACTIVE, scene.node.last_error
    samples = []
    for name, sub in subs.items():
        while (sample := sub.take(0.0)) is not None:
            samples.append((sample.arrival, name, sample))
    log = [
        (name, scene.bus.codec.deserialize(sample.data, "lifecycle_msgs/msg/TransitionEvent").goal_state.label)
        for _arrival, name, sample in sorted(samples, key=lambda t: t[0])
    ]
    primaries = [(n, s) for n, s in log if s in ("inactive", "active")]
    configured = [n for n, s in primaries if s == "inactive"]
    activated = [n for n, s in primaries if s == "active"]
    assert configured == ["sensor_fusion", "decision", "decision_standby_1"]
    assert activated == ["sensor_fusion", "decision"]
    last_configure = max(i for i, (_n, s) in enumerate(primaries) if s == "inactive")
    first_activate = min(i for i, (_n, s) in enumerate(primaries) if s == "active")
    assert last_configure < first_activate
    assert scene.manager.roles("decision") == {"decision": "active", "decision_standby_1": "standby"}
    assert node_state(scene, "decision_standby_1") is State.INACTIVE


def test_heartbeat_loss_fails_over_to_the_standby_and_respawns(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene(["decision"], {"decision": 1})
    manager = scene.manager
    assert manager.active_name("decision") == "decision"
    active = scene.spawner.nodes["decision"]
    assert active.heartbeat is not None
    active.heartbeat.stop()  # the process "hangs": no more heartbeats
    assert wait_until(lambda: bool(manager.events("failover")))
    assert manager.active_name("decision") == "decision_standby_1"
    assert node_state(scene, "decision_standby_1") is State.ACTIVE
    failover = manager.events("failover")[0]
    assert failover["instance"] == "decision" and failover["activated"] == "decision_standby_1"
    assert "no heartbeat" in failover["reason"]
    assert failover["detected_ns"] >= failover["last_beat_ns"]
    # The failed one is respawned as the new standby (a fresh node object under the same name).
    assert wait_until(lambda: manager.roles("decision").get("decision") == "standby")
    assert scene.spawner.nodes["decision"] is not active
    assert node_state(scene, "decision") is State.INACTIVE
    assert active.state is State.FINALIZED  # killed, never publishes again


def test_node_leaving_the_bus_fails_over(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene(["decision"], {"decision": 2})
    manager = scene.manager
    time.sleep(0.2)  # a loss right after spawning is taken for the previous incarnation's
    scene.spawner.nodes["decision"]._bus_node.close()  # liveliness lost (inproc: node closed)
    assert wait_until(lambda: bool(manager.events("failover")))
    assert manager.active_name("decision") in ("decision_standby_1", "decision_standby_2")
    assert "liveliness" in manager.events("failover")[0]["reason"]
    actives = [n for n, node in scene.spawner.nodes.items() if node.state is State.ACTIVE]
    assert len(actives) == 1


def test_no_standby_restarts_the_node_in_place(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene(["sensor_fusion"])
    manager = scene.manager
    first = scene.spawner.nodes["sensor_fusion"]
    assert first.heartbeat is not None
    first.heartbeat.stop()
    assert wait_until(lambda: scene.spawner.nodes.get("sensor_fusion") not in (None, first))
    assert wait_until(lambda: manager.roles("sensor_fusion") == {"sensor_fusion": "active"})
    assert node_state(scene, "sensor_fusion") is State.ACTIVE
    event = manager.events("failover")[0]
    assert event["activated"] is None and event["respawned_as"] == "active"


def test_services_stop_start_reset_status(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene(["sensor_fusion", "decision"], {"decision": 1})
    client = scene.bus.create_node("operator")
    assert call_trigger(client, MANAGER, "stop", 5.0) == (True, "stopped")
    assert node_state(scene, "decision") is State.INACTIVE and node_state(scene, "sensor_fusion") is State.INACTIVE
    assert call_trigger(client, MANAGER, "start", 5.0)[0]
    assert node_state(scene, "decision") is State.ACTIVE and node_state(scene, "decision_standby_1") is State.INACTIVE
    ok, message = call_trigger(client, MANAGER, "status", 5.0)
    status = json.loads(message)
    assert ok and status["running"] is True
    nodes = {g["node"]: g for g in status["nodes"]}
    assert nodes["decision"]["active"] == "decision"
    assert {i["name"]: i["role"] for i in nodes["decision"]["instances"]} == {
        "decision": "active",
        "decision_standby_1": "standby",
    }
    assert call_trigger(client, MANAGER, "reset", 5.0)[0]
    assert all(node.state is State.UNCONFIGURED for node in scene.spawner.nodes.values())
    assert call_trigger(client, MANAGER, "start", 5.0)[0]
    assert node_state(scene, "decision") is State.ACTIVE and node_state(scene, "decision_standby_1") is State.INACTIVE


def test_while_stopped_a_failure_respawns_but_does_not_activate(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene(["decision"], {"decision": 1})
    manager = scene.manager
    manager.stop()
    scene.spawner.nodes["decision"].heartbeat.stop()  # type: ignore[union-attr]
    assert wait_until(lambda: manager.roles("decision").get("decision") == "standby")
    assert all(node.state is not State.ACTIVE for node in scene.spawner.nodes.values())
    manager.start()
    assert sum(node.state is State.ACTIVE for node in scene.spawner.nodes.values()) == 1


def test_swap_rejections_without_a_model_kind(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene(["decision"], {"decision": 1})
    client = scene.bus.create_node("operator")
    result = call_swap(client, MANAGER, "vision_inference", "roi_classifier@2", 5.0)
    assert result["ok"] is False and "unknown node 'vision_inference'" in result["reason"]
    result = call_swap(client, MANAGER, "decision", "@", 5.0)
    assert result["ok"] is False and "not a model id" in result["reason"]
    assert scene.manager.active_name("decision") == "decision"


def test_bad_manager_parameters_fail_configure(make_scene: Callable[..., Scene]) -> None:
    with pytest.raises(AssertionError, match="heartbeat_timeout_s"):
        make_scene(["decision"], heartbeat_timeout_s=0.005, node_heartbeat_period_s=0.01)
    with pytest.raises(AssertionError, match="unknown kinds"):
        make_scene(["nope"])


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="duplicates"):
        ManagerConfig(node_names=("a", "a"))
    with pytest.raises(ValueError, match="not in node_names"):
        ManagerConfig(node_names=("a",), standbys={"b": 1})
    assert Role.ACTIVE.value == "active"


def test_swap_refused_at_configure_reports_the_nodes_reason(make_scene: Callable[..., Scene]) -> None:
    # The decision node has no model parameters: the candidate's configure fails, naming them;
    # the reason travels back in the candidate's heartbeat, and the old instance keeps serving.
    scene = make_scene(["decision"], {"decision": 1})
    manager = scene.manager
    result = manager.swap("decision", "some_model@1")
    assert not result.ok and result.outcome == "rejected"
    assert "unknown parameter(s) ['model', 'model_version']" in result.reason
    assert manager.active_name("decision") == "decision"
    assert node_state(scene, "decision") is State.ACTIVE
    assert set(manager.roles("decision")) == {"decision", "decision_standby_1"}  # the candidate is gone
    assert manager.events("swap")[-1]["outcome"] == "rejected"


def test_initial_models_come_from_the_scene_parameters(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene(["roi_preprocess", "vision_inference"], activate=False)
    assert scene.manager.group("roi_preprocess").model == "person_detector"
    assert scene.manager.group("vision_inference").model == "roi_classifier"


def test_without_a_spawner_the_manager_adopts_running_nodes() -> None:
    # As under ros2 launch: the nodes exist already (one even active); the manager finds them by
    # name, keeps exactly one active per kind and watches them.
    from edge_llm_ros.config_files import find_config
    from edge_llm_ros.nodes.decision import DecisionNode
    from edge_llm_ros.nodes.lifecycle_manager import LifecycleManagerNode
    from edge_llm_ros.runtime.context import NodeContext, NodeOptions
    from edge_llm_ros.runtime.executor import ExecutorThread
    from edge_llm_ros.runtime.params import load_params_file
    from edge_llm_ros.transport.inproc import InprocBus
    from edge_llm_ros.transport.qos import QoSCatalog

    bus = InprocBus()
    context = NodeContext(
        bus=bus,
        qos=QoSCatalog.from_yaml(find_config("qos.yaml")),
        params_document=load_params_file(find_config("traffic.yaml")),
    )
    spinner = ExecutorThread(context.executor).start()
    beat = {"heartbeat_period_s": 0.01}
    nodes = [
        DecisionNode(context, NodeOptions(name, parameter_overrides=beat))
        for name in ("decision", "decision_standby_1")
    ]
    manager_node = LifecycleManagerNode(
        context,
        NodeOptions(
            "lifecycle_manager",
            parameter_overrides={
                "node_names": ["decision"],
                "standbys.decision": 1,
                "swap_validate": False,
                "get_state_period_s": 0.0,
            },
        ),
    )
    try:
        assert nodes[1].bring_up() is State.ACTIVE
        assert manager_node.configure() is State.INACTIVE
        assert manager_node.activate() is State.ACTIVE, manager_node.last_error
        assert [n.state for n in nodes] == [State.ACTIVE, State.INACTIVE]
        assert manager_node.manager.roles("decision") == {"decision": "active", "decision_standby_1": "standby"}
        # Their heartbeats count (the nodes were beating before the manager came): a kill is then
        # detected within heartbeat_timeout_s, not by get_state polling.
        instances = manager_node.manager.instances()
        beats_before = {inst.name: inst.beats for inst in instances}
        assert wait_until(lambda: all(inst.beats > beats_before[inst.name] for inst in instances)), beats_before
        assert all(inst.pid is not None for inst in instances)
        result = manager_node.manager.swap("decision", "m@1")
        assert result.outcome == "rejected" and "process supervisor" in result.reason
    finally:
        manager_node.destroy()
        for node in nodes:
            node.destroy()
        spinner.stop()
        bus.close()
