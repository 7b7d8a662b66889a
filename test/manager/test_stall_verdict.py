"""An executor stall is a hang only in a primary state and only when two beats in a row show it.

Found under ros2 launch on Jazzy: a respawned standby configures (loads and warms its model) on
its executor, its beats carried that lag, and the manager condemned it again and again.
"""

from __future__ import annotations

from edge_llm_ros.manager.monitor import HealthMonitor
from edge_llm_ros.manager.roles import Instance, Role
from edge_llm_ros.runtime.heartbeat import HeartbeatInfo
from edge_llm_ros.runtime.lifecycle import State

STALL_S = 2.0


def beat(seq: int, state: State, lag_s: float) -> HeartbeatInfo:
    return HeartbeatInfo(node="/roi_preprocess", seq=seq, state=state, stamp_ns=seq, pid=1, hardware_id="h:1",
                         published=0, executor_lag_s=lag_s)


def judge(inst: Instance, *beats: HeartbeatInfo) -> list[bool]:
    verdicts = []
    for b in beats:
        inst.last_beat = b
        verdicts.append(HealthMonitor._stalled(inst, STALL_S))
    return verdicts


def test_lag_while_configuring_and_the_first_beat_after_it_are_not_a_stall() -> None:
    inst = Instance("roi_preprocess", "roi_preprocess", Role.STANDBY)
    during = [beat(i, State.CONFIGURING, 0.5 * i) for i in range(1, 8)]
    after = [beat(8, State.INACTIVE, 3.4), beat(9, State.INACTIVE, 0.0), beat(10, State.INACTIVE, 0.0)]
    assert judge(inst, *during, *after) == [False] * 10


def test_a_hung_executor_in_a_primary_state_is_a_stall_on_the_second_beat() -> None:
    inst = Instance("roi_preprocess", "roi_preprocess", Role.ACTIVE)
    assert judge(inst, beat(1, State.ACTIVE, 0.0), beat(2, State.ACTIVE, 2.1), beat(3, State.ACTIVE, 2.2)) == [
        False, False, True,
    ]
    # the same beat seen twice is one beat, not two
    inst = Instance("vision_inference", "vision_inference", Role.ACTIVE)
    assert judge(inst, beat(5, State.ACTIVE, 2.5), beat(5, State.ACTIVE, 2.5)) == [False, False]


def test_stall_check_off() -> None:
    inst = Instance("decision", "decision", Role.ACTIVE)
    inst.last_beat = beat(1, State.ACTIVE, 10.0)
    assert not HealthMonitor._stalled(inst, 0.0)
    inst.last_beat = beat(2, State.ACTIVE, 10.0)
    assert not HealthMonitor._stalled(inst, 0.0)
