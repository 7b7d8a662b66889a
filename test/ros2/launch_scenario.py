"""The launch_testing scenario both launch files run: bring-up, a decision after input, failover.

Imported only where ROS 2 is present (the launch test modules skip before importing it). The
test side talks to the launched nodes through this package's own rclpy adapter (create_bus
"ros2"): lifecycle_msgs/GetState calls, raw CDR sensor samples from the scene generator, and a
subscription to /edge_llm/decision, so the adapter is exercised against real ROS 2 nodes too.
"""

from __future__ import annotations

import json
import os
import signal
import time
import unittest
from collections.abc import Callable
from typing import Any, ClassVar

import launch_testing.actions
import psutil
import yaml
from launch.actions import IncludeLaunchDescription
from launch.launch_description import LaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from ros2_env import isolate_ros_environment, share_directory

from edge_llm_ros.msgs.codec import get_codec
from edge_llm_ros.runtime.lifecycle import State
from edge_llm_ros.scenes import make_scene
from edge_llm_ros.sim.records import GROUND_TRUTH_TOPIC
from edge_llm_ros.transport.bus import Bus, BusNode, Publisher, TransportError
from edge_llm_ros.transport.factory import create_bus
from edge_llm_ros.transport.qos import SENSOR_DATA, QoSProfile

STANDBYS = 1
DECISION_TOPIC = "/edge_llm/decision"
#: Configure loads and warms models: generous, since a cold CI machine is slow.
BRING_UP_TIMEOUT_S = 180.0
FAILOVER_TIMEOUT_S = 10.0
RESPAWN_TIMEOUT_S = 180.0
#: The kind whose active process the failover test kills.
VICTIM = "decision"


def workers(scene: str) -> list[str]:
    """Worker kinds the scene's params file lists for the manager."""
    document = yaml.safe_load((share_directory() / "config" / f"{scene}.yaml").read_text(encoding="utf-8"))
    return [str(kind) for kind in document["lifecycle_manager"]["ros__parameters"]["node_names"]]


def launch_description(scene: str) -> LaunchDescription:
    """The installed launch file of `scene` with one standby per worker, then ReadyToTest."""
    isolate_ros_environment()
    source = PythonLaunchDescriptionSource(str(share_directory() / "launch" / f"{scene}.launch.py"))
    arguments = {"standby_count": str(STANDBYS), "llm": "off", "use_sim_time": "false"}
    return LaunchDescription(
        [
            IncludeLaunchDescription(source, launch_arguments=arguments.items()),
            launch_testing.actions.ReadyToTest(),
        ]
    )


def node_pid(name: str) -> int | None:
    """The pid of the launched process whose node is named `name` (launch passes __node:=name)."""
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if f"__node:={name}" in (proc.info.get("cmdline") or []):
            return int(proc.info["pid"])
    return None


def wait_for(predicate: Callable[[], bool], timeout_s: float, poll_s: float = 0.2) -> bool:
    """Poll until `predicate()` holds or `timeout_s` passes; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)


class PipelineScenario(unittest.TestCase):
    """Mixed into each launch test module's TestCase with its `scene`; tests run in name order."""

    scene: ClassVar[str] = ""
    bus: ClassVar[Bus]
    node: ClassVar[BusNode]
    publishers: ClassVar[dict[str, Publisher]]

    @classmethod
    def setUpClass(cls) -> None:
        cls.codec = get_codec()
        cls.kinds = workers(cls.scene)
        cls.bus = create_bus("ros2")
        cls.node = cls.bus.create_node(f"launch_test_{cls.scene}")
        cls.generator = make_scene(cls.scene, duration_s=60.0, seed=7)
        cls.records = iter(cls.generator.records())
        cls.types = {spec.name: spec.typename for spec in cls.generator.topics() if spec.name != GROUND_TRUTH_TOPIC}
        cls.publishers = {topic: cls.node.create_publisher(topic, t, SENSOR_DATA) for topic, t in cls.types.items()}
        cls.decisions = cls.node.create_subscription(DECISION_TOPIC, "std_msgs/msg/String", QoSProfile(depth=1000))

    @classmethod
    def tearDownClass(cls) -> None:
        cls.bus.close()

    # ------------------------------------------------------------------ helpers
    def state(self, name: str, timeout_s: float = 2.0) -> State | None:
        """`/name`'s lifecycle state from its get_state service; None when it does not answer."""
        request_cls = self.codec.msg_class("lifecycle_msgs/srv/GetState_Request")
        request = self.codec.serialize(request_cls(structure_needs_at_least_one_member=0))
        try:
            data = self.node.call_service(f"/{name}/get_state", "lifecycle_msgs/srv/GetState", request, timeout_s)
        except TransportError:
            return None
        return State(int(self.codec.deserialize(data, "lifecycle_msgs/srv/GetState_Response").current_state.id))

    def states(self, names: list[str]) -> dict[str, State | None]:
        """The states of several nodes."""
        return {name: self.state(name) for name in names}

    def play(self, seconds: float) -> int:
        """Publish the scene's sensor samples for `seconds`, paced by their stamps; returns frames."""
        frames, first_stamp, started = 0, None, time.monotonic()
        for record in self.records:
            if record.topic not in self.publishers:
                continue
            first_stamp = record.stamp_ns if first_stamp is None else first_stamp
            due = started + (record.stamp_ns - first_stamp) / 1e9
            if due - started > seconds:
                break
            time.sleep(max(0.0, due - time.monotonic()))
            payload = record.payload
            data = bytes(payload) if isinstance(payload, bytes | bytearray) else self.codec.serialize(payload)
            self.publishers[record.topic].publish_raw(data)
            frames += record.topic.endswith("image_raw")
        return frames

    def decision_within(self, seconds: float) -> dict[str, Any] | None:
        """Play input until a decision arrives (or `seconds` pass); returns the decoded record."""
        while self.decisions.take(0.0) is not None:
            pass
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.play(1.0)
            sample = self.decisions.take(0.5)
            if sample is not None:
                text = self.codec.deserialize(sample.data, "std_msgs/msg/String").data
                record: dict[str, Any] = json.loads(text)
                return record
        return None

    # ------------------------------------------------------------------ tests
    def test_1_every_node_reaches_its_state(self) -> None:
        expected = {kind: State.ACTIVE for kind in self.kinds}
        expected |= {f"{kind}_standby_{i}": State.INACTIVE for kind in self.kinds for i in range(1, STANDBYS + 1)}
        expected["lifecycle_manager"] = State.ACTIVE
        names = sorted(expected)
        reached = wait_for(lambda: self.states(names) == expected, BRING_UP_TIMEOUT_S, poll_s=1.0)
        self.assertTrue(reached, f"after {BRING_UP_TIMEOUT_S:g} s: {self.states(names)}; expected {expected}")

    def test_2_a_decision_follows_sensor_input(self) -> None:
        record = self.decision_within(30.0)
        self.assertIsNotNone(record, f"no decision on {DECISION_TOPIC} within 30 s of sensor input")
        assert record is not None
        self.assertEqual(record.get("scene"), self.scene)
        self.assertIn("stamp_ns", record)

    def test_3_a_killed_node_fails_over_to_its_standby(self) -> None:
        if VICTIM not in self.kinds:
            self.skipTest(f"{self.scene} runs no {VICTIM} node")
        standby = f"{VICTIM}_standby_1"
        self.assertEqual(self.state(VICTIM), State.ACTIVE)
        self.assertEqual(self.state(standby), State.INACTIVE)
        pid = node_pid(VICTIM)
        self.assertIsNotNone(pid, f"no process runs node {VICTIM}")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)

        took_over = wait_for(lambda: self.state(standby, 1.0) is State.ACTIVE, FAILOVER_TIMEOUT_S, poll_s=0.05)
        self.assertTrue(took_over, f"{standby} is {self.state(standby)} {FAILOVER_TIMEOUT_S:g} s after the kill")
        self.assertIsNotNone(self.decision_within(20.0), "no decision after the failover")
        # launch respawns the killed process under its name; the manager makes it the new standby.
        back = wait_for(lambda: self.state(VICTIM) is State.INACTIVE, RESPAWN_TIMEOUT_S, poll_s=1.0)
        self.assertTrue(back, f"{VICTIM} is {self.state(VICTIM)}, not back as a standby")
        self.assertNotEqual(node_pid(VICTIM), pid)


def processes_with_tracebacks(proc_output: Any) -> list[str]:
    """Processes whose output shows a Python traceback (post-shutdown check)."""
    marker = b"Traceback (most recent call last)"
    return sorted({str(event.process_name) for event in proc_output if marker in event.text})


__all__ = ["PipelineScenario", "launch_description", "processes_with_tracebacks"]
