"""The lifecycle manager's `NodePort` over the Bus: lifecycle_msgs services, `~/heartbeat` topics, node watch."""

from __future__ import annotations

import threading
from collections.abc import Callable

from edge_llm_ros.manager.ports import HeartbeatCallback, LivelinessCallback, NodeUnreachableError
from edge_llm_ros.msgs.codec import CodecError, MessageCodec
from edge_llm_ros.runtime.heartbeat import HEARTBEAT_QOS, HEARTBEAT_TYPE, HeartbeatDecodeError, HeartbeatInfo
from edge_llm_ros.runtime.lifecycle import State
from edge_llm_ros.transport.bus import Bus, BusNode, Subscription, TransportError

CHANGE_STATE = "lifecycle_msgs/srv/ChangeState"
GET_STATE = "lifecycle_msgs/srv/GetState"
TRIGGER = "std_srvs/srv/Trigger"
SET_PARAMETERS = "rcl_interfaces/srv/SetParameters"
PARAMETER_STRING = 4  # rcl_interfaces/ParameterType.PARAMETER_STRING

_TRANSITION_IDS = {"configure": 1, "cleanup": 2, "activate": 3, "deactivate": 4}


class BusNodeClient:
    """lifecycle_msgs services of one node, called over a BusNode."""

    def __init__(self, bus_node: BusNode, codec: MessageCodec, fqn: str) -> None:
        self._bus_node = bus_node
        self._codec = codec
        self.fqn = fqn

    def change_state(self, transition: str, timeout_s: float) -> bool:
        """Trigger `transition` ('configure', 'activate', ...); raises NodeUnreachableError."""
        transition_cls = self._codec.msg_class("lifecycle_msgs/msg/Transition")
        request = self._codec.msg_class("lifecycle_msgs/srv/ChangeState_Request")(
            transition=transition_cls(id=_TRANSITION_IDS.get(transition, 0), label=transition)
        )
        data = self._call("change_state", CHANGE_STATE, self._codec.serialize(request), timeout_s)
        try:
            return bool(self._codec.deserialize(data, "lifecycle_msgs/srv/ChangeState_Response").success)
        except CodecError as exc:
            raise NodeUnreachableError(f"{self.fqn}: malformed change_state response ({exc})") from exc

    def get_state(self, timeout_s: float) -> State:
        """The node's state; raises NodeUnreachableError."""
        request = self._codec.msg_class("lifecycle_msgs/srv/GetState_Request")(structure_needs_at_least_one_member=0)
        data = self._call("get_state", GET_STATE, self._codec.serialize(request), timeout_s)
        try:
            response = self._codec.deserialize(data, "lifecycle_msgs/srv/GetState_Response")
            return State(int(response.current_state.id))
        except (CodecError, ValueError) as exc:
            raise NodeUnreachableError(f"{self.fqn}: malformed get_state response ({exc})") from exc

    def _call(self, service: str, srvtype: str, request: bytes, timeout_s: float) -> bytes:
        try:
            return self._bus_node.call_service(f"{self.fqn}/{service}", srvtype, request, timeout_s)
        except TransportError as exc:
            raise NodeUnreachableError(str(exc)) from exc


class BusNodePort:
    """`NodePort` over the Bus port: lifecycle services, heartbeat topics, node watch."""

    def __init__(self, bus: Bus, bus_node: BusNode) -> None:
        self._bus = bus
        self._bus_node = bus_node
        self._codec = bus.codec
        self._heartbeats: dict[str, Subscription] = {}
        self._lock = threading.Lock()
        self.bad_heartbeats = 0

    def client(self, fqn: str) -> BusNodeClient:
        """A lifecycle client for `fqn`."""
        return BusNodeClient(self._bus_node, self._codec, fqn)

    def watch_heartbeats(self, fqn: str, callback: HeartbeatCallback) -> None:
        """Decode `fqn`'s heartbeats on the transport's thread and hand them to `callback`."""
        with self._lock:
            if fqn in self._heartbeats:
                return
        holder: list[Subscription] = []

        def ready() -> None:
            # Runs on the transport thread right after the sample is queued: decoding here keeps
            # detection latency at transport latency, without waiting for any executor.
            if not holder:
                return
            while (sample := holder[0].take(0.0)) is not None:
                try:
                    info = HeartbeatInfo.from_msg(self._codec.deserialize(sample.data, HEARTBEAT_TYPE))
                except (CodecError, HeartbeatDecodeError):
                    self.bad_heartbeats += 1
                    continue
                callback(info)

        sub = self._bus_node.create_subscription(f"{fqn}/heartbeat", HEARTBEAT_TYPE, HEARTBEAT_QOS, on_ready=ready)
        holder.append(sub)
        with self._lock:
            self._heartbeats[fqn] = sub
        ready()  # anything that arrived before `holder` was filled

    def unwatch_heartbeats(self, fqn: str) -> None:
        """Stop following `fqn`'s heartbeats."""
        with self._lock:
            sub = self._heartbeats.pop(fqn, None)
        if sub is not None:
            sub.close()

    def watch_liveliness(self, callback: LivelinessCallback) -> Callable[[], None] | None:
        """Node appear/vanish events from the bus (zenoh liveliness tokens; inproc node closes)."""
        return self._bus.watch_nodes(lambda event: callback(f"{event.namespace.rstrip('/')}/{event.name}", event.alive))

    def close(self) -> None:
        """Close every heartbeat subscription."""
        with self._lock:
            subs = list(self._heartbeats.values())
            self._heartbeats.clear()
        for sub in subs:
            sub.close()
