"""Node heartbeats: a small diagnostic_msgs/DiagnosticStatus on `~/heartbeat`, from its own thread.

A lifecycle manager needs to tell, within tens of milliseconds, that a node's process died or
hung. Liveliness tokens catch a process whose sockets close (kill -9), but not one that is stopped
(SIGSTOP) or wedged: its sockets stay open. So every managed node that is given a
`heartbeat_period_s` publishes a heartbeat from a thread that does not depend on its executor:

- a dead or stopped process sends nothing, which the manager notices after its timeout;
- a process whose executor is stuck in a callback still beats, but reports how long ago its
  executor last ran a tick (`executor_lag_s`), so a hung executor is visible too;
- the heartbeat carries what the manager needs to act without another round trip: the lifecycle
  state, why the last transition failed, and how many messages the node has published while
  active (a hot-swapped node "has served" once that count moves).

Wire format (diagnostic_msgs/msg/DiagnosticStatus, a standard type any ROS 2 tool can echo):
  level     OK (0); WARN (1) after a failed transition; ERROR (2) in the finalized state
  name      the node's fully-qualified name, e.g. /vision_inference
  message   the lifecycle state label (unconfigured, inactive, active, ...)
  hardware_id  "<hostname>:<pid>"
  values    seq, state_id, stamp_ns, pid, incarnation (random per node object, so a respawned
            node is told apart from its predecessor even in one process), published,
            executor_lag_s, last_error, then whatever the node adds
            (`ManagedNode.heartbeat_values`), all as strings.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edge_llm_ros.msgs.codec import MessageCodec
from edge_llm_ros.runtime.lifecycle import State
from edge_llm_ros.transport.bus import Publisher
from edge_llm_ros.transport.qos import History, QoSProfile, Reliability

HEARTBEAT_TYPE = "diagnostic_msgs/msg/DiagnosticStatus"
#: Relative name; a node resolves it to `/<ns>/<node>/heartbeat`.
HEARTBEAT_TOPIC = "~/heartbeat"
#: A late heartbeat is worth nothing: best effort, only the newest few kept.
HEARTBEAT_QOS = QoSProfile(Reliability.BEST_EFFORT, History.KEEP_LAST, 5)

_LEVEL_OK, _LEVEL_WARN, _LEVEL_ERROR = 0, 1, 2
_FIXED_KEYS = ("seq", "state_id", "stamp_ns", "pid", "incarnation", "published", "executor_lag_s", "last_error")


class HeartbeatDecodeError(ValueError):
    """A heartbeat message that lacks a required field or carries a malformed one."""


@dataclass(frozen=True)
class HeartbeatInfo:
    """One heartbeat, decoded."""

    node: str
    seq: int
    state: State
    stamp_ns: int
    pid: int
    hardware_id: str
    published: int
    executor_lag_s: float
    last_error: str = ""
    values: Mapping[str, str] = field(default_factory=dict)
    incarnation: str = ""

    def to_msg(self, codec: MessageCodec) -> Any:
        """The diagnostic_msgs/DiagnosticStatus message."""
        kv_cls = codec.msg_class("diagnostic_msgs/msg/KeyValue")
        fixed = (
            ("seq", str(self.seq)),
            ("state_id", str(int(self.state))),
            ("stamp_ns", str(self.stamp_ns)),
            ("pid", str(self.pid)),
            ("incarnation", self.incarnation),
            ("published", str(self.published)),
            ("executor_lag_s", f"{self.executor_lag_s:.4f}"),
            ("last_error", self.last_error),
        )
        extra = tuple((str(k), str(v)) for k, v in self.values.items() if k not in _FIXED_KEYS)
        if self.state is State.FINALIZED:
            level = _LEVEL_ERROR
        elif self.last_error:
            level = _LEVEL_WARN
        else:
            level = _LEVEL_OK
        return codec.msg_class(HEARTBEAT_TYPE)(
            level=level,
            name=self.node,
            message=self.state.label,
            hardware_id=self.hardware_id,
            values=[kv_cls(key=k, value=v) for k, v in fixed + extra],
        )

    @classmethod
    def from_msg(cls, msg: Any) -> HeartbeatInfo:
        """Decode; a missing or malformed fixed field raises HeartbeatDecodeError."""
        values = {str(kv.key): str(kv.value) for kv in msg.values}
        try:
            return cls(
                node=str(msg.name),
                seq=int(values["seq"]),
                state=State(int(values["state_id"])),
                stamp_ns=int(values["stamp_ns"]),
                pid=int(values["pid"]),
                hardware_id=str(msg.hardware_id),
                published=int(values["published"]),
                executor_lag_s=float(values["executor_lag_s"]),
                last_error=values.get("last_error", ""),
                values={k: v for k, v in values.items() if k not in _FIXED_KEYS},
                incarnation=values.get("incarnation", ""),
            )
        except (KeyError, ValueError) as exc:
            raise HeartbeatDecodeError(f"heartbeat from {getattr(msg, 'name', '?')!r}: {exc}") from exc


@dataclass(frozen=True)
class NodeSnapshot:
    """What a node reports each beat (read from the node without locks: plain attribute reads)."""

    state: State
    published: int
    last_error: str
    values: Mapping[str, str] = field(default_factory=dict)


class Heartbeat:
    """Publishes a node's heartbeat every `period_s` from a daemon thread.

    `tick()` is meant to be called from the node's executor (a timer): the time since the last
    tick is reported as `executor_lag_s`, so a stuck executor is told apart from a live process.
    """

    def __init__(
        self,
        node_fqn: str,
        publisher: Publisher,
        codec: MessageCodec,
        period_s: float,
        snapshot: Callable[[], NodeSnapshot],
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if period_s <= 0:
            raise ValueError(f"heartbeat period must be > 0, got {period_s}")
        self.node_fqn = node_fqn
        self.period_s = period_s
        self._publisher = publisher
        self._codec = codec
        self._snapshot = snapshot
        self._clock_ns = clock_ns
        self._pid = os.getpid()
        self.incarnation = uuid.uuid4().hex[:16]
        self._hardware_id = f"{socket.gethostname()}:{self._pid}"
        self._seq = 0
        self._last_tick = time.monotonic()
        self._stop = threading.Event()
        self._log = logging.getLogger(f"edge_llm_ros.heartbeat.{node_fqn.strip('/')}")
        self._thread = threading.Thread(target=self._run, name=f"heartbeat{node_fqn}", daemon=True)
        self.errors = 0

    def start(self) -> Heartbeat:
        """Start beating (the first beat goes out at once, so a fresh node is seen quickly)."""
        self._thread.start()
        return self

    def tick(self) -> None:
        """The executor is alive (called from an executor timer)."""
        self._last_tick = time.monotonic()

    def beat(self) -> None:
        """Publish one heartbeat now."""
        snap = self._snapshot()
        self._seq += 1
        lag = max(0.0, time.monotonic() - self._last_tick - self.period_s)
        info = HeartbeatInfo(
            node=self.node_fqn,
            seq=self._seq,
            state=snap.state,
            stamp_ns=self._clock_ns(),
            pid=self._pid,
            hardware_id=self._hardware_id,
            published=snap.published,
            executor_lag_s=lag,
            last_error=snap.last_error,
            values=snap.values,
            incarnation=self.incarnation,
        )
        self._publisher.publish(info.to_msg(self._codec))

    def _run(self) -> None:
        next_due = time.monotonic()
        while True:
            try:
                self.beat()
            except Exception:
                # A closed session at shutdown, or a codec hiccup: never kill the beat thread.
                self.errors += 1
                if self.errors in (1, 100):
                    self._log.debug("heartbeat not published", exc_info=True)
            next_due += self.period_s
            now = time.monotonic()
            if next_due < now:
                # We were descheduled for longer than a period: beat again now, do not burst.
                next_due = now
            if self._stop.wait(next_due - now):
                return

    def stop(self, timeout_s: float = 1.0) -> None:
        """Stop beating; the manager sees the node go silent (use before a clean exit)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
