"""launch_testing test of launch/traffic.launch.py under a real ROS 2.

Every worker reaches active and every standby inactive, a decision follows sensor input, and a
killed node with a standby fails over (launch_scenario.py has the scenario). On a ROS 2 machine
with the package built and sourced: `colcon test --packages-select edge_llm_ros`,
`python -m pytest test/ros2` or `launch_test test/ros2/test_traffic_launch.py`. Elsewhere the
module skips itself at import with the reason (ros2_env.py).
"""

from __future__ import annotations

import sys
import unittest
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `launch_test` does not add this directory

from ros2_env import launch_test_skip_reason

SCENE = "traffic"
_REASON = launch_test_skip_reason(SCENE)
if _REASON is not None:
    pytest.skip(_REASON, allow_module_level=True)

import launch_scenario  # noqa: E402 - needs ROS 2: imported once it is known to be there
import launch_testing  # noqa: E402
from launch.launch_description import LaunchDescription  # noqa: E402


@pytest.mark.launch_test
def generate_test_description() -> LaunchDescription:
    return launch_scenario.launch_description(SCENE)


class TestTrafficPipeline(launch_scenario.PipelineScenario):
    scene = SCENE


@launch_testing.post_shutdown_test()
class TestTrafficShutdown(unittest.TestCase):
    def test_no_process_crashed(self, proc_output: Any) -> None:
        self.assertEqual(launch_scenario.processes_with_tracebacks(proc_output), [])
