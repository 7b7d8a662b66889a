"""The lifecycle manager: ordered bring-up, health monitoring, warm-standby failover, hot-swap.

Threads and locking. Heartbeats and liveliness events arrive on transport threads and are only
recorded (under `_lock`, in microseconds). One monitor thread looks at heartbeat ages every
`check_period_s` and handles every failure itself, in order: kill the failed instance (SIGKILL
goes out before anything else, so a stopped process can never resume and publish), activate a
standby (one lifecycle service call), then queue the respawn. Slow work (spawning, waiting for a
process to come up, configuring, i.e. loading a model) runs on a small worker pool or on the
caller's thread (bring-up, swap) and never holds `_lock`, so a swap that is loading a model never
delays a failover.

Guarantees (see docs/operations.md):
- at most one instance of a kind is active at any time: failover activates the standby only after
  the failed instance was SIGKILLed (or its in-process node destroyed); a swap deactivates the old
  instance (its lifecycle publishers stop when the transition returns) before activating the new;
- a standby keeps its newest inputs queued while inactive (keep-last), so frames that were in
  flight in the old instance are served by the new one; a frame both may have served is decided
  once, because the decision node pairs exactly one detections message with each (stamp, camera)
  and ignores later ones.
"""

from __future__ import annotations

from edge_llm_ros.manager.bring_up import BringUp
from edge_llm_ros.manager.core import Group, ManagerError, SwapResult, Validator
from edge_llm_ros.manager.hot_swap import HotSwap

__all__ = ["Group", "LifecycleManager", "ManagerError", "SwapResult", "Validator"]


class LifecycleManager(BringUp, HotSwap):
    """Manages the node kinds of one scene through a `NodePort` (and a `Spawner` when it has one).

    The jobs live in their own modules: core.py (state, transitions, status), monitor.py (health,
    failover, respawn), bring_up.py (bring-up, start/stop/reset, shutdown), hot_swap.py (swap).
    """
