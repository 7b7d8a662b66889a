"""Gate the ROS 2 launch tests: they run where ROS 2 and the built package are, and say why not elsewhere.

Without ROS 2 (launch_testing not importable) the launch test modules are collected as ordinary
modules and skip themselves at import, so the log shows `SKIPPED ... <reason>`. With
launch_testing installed its pytest plugin imports every test module during collection, where a
module-level skip would skip the whole directory: modules that cannot run (package not built,
models missing, scene config absent) are then left out here, and the reason is printed in the
test summary. Every other test in this directory runs everywhere.
"""

from __future__ import annotations

import pytest

from .ros2_env import LAUNCH_TESTS, launch_test_skip_reason, launch_testing_importable

#: Launch test module -> why it cannot run here (absent when it can).
NOT_RUNNABLE = {
    module: reason for module, scene in LAUNCH_TESTS.items() if (reason := launch_test_skip_reason(scene)) is not None
}

collect_ignore = sorted(NOT_RUNNABLE) if launch_testing_importable() else []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Left-out modules produce no SKIPPED line of their own: say here what did not run and why.
    if collect_ignore:
        terminalreporter.section("edge_llm_ros ROS 2 launch tests not run")
        for module, reason in sorted(NOT_RUNNABLE.items()):
            terminalreporter.write_line(f"{module}: {reason}")
