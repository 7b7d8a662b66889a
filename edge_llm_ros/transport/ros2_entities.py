"""The entities of a Ros2Node: rclpy publishers, raw subscriptions and services carrying CDR bytes.

They reach their node through `EntityOwner`, which Ros2Node (ros2_bus.py) satisfies, so this
module does not import the adapter that creates them. Like ros2_bus.py, only importable with
rclpy (the `ros2` transport loads it on demand).
"""

from __future__ import annotations

import functools
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, ReliabilityPolicy
from rclpy.qos import QoSProfile as RclpyQoSProfile
from rclpy.serialization import deserialize_message, serialize_message
from rclpy.subscription import Subscription as RclpySubscription
from rosidl_runtime_py.utilities import get_message, get_service

from edge_llm_ros.transport.bus import (
    UNKNOWN_PUBLISHER,
    Bus,
    MessageInfo,
    Publisher,
    Sample,
    Service,
    ServiceHandler,
    Subscription,
    TransportError,
)
from edge_llm_ros.transport.qos import QoSProfile
from edge_llm_ros.transport.ros2_mapping import ros2_qos
from edge_llm_ros.transport.sample_queue import SampleQueue

_log = logging.getLogger(__name__)

#: Iron and later call a two-argument subscription callback with rmw's message info.
_CALLBACKS_TAKE_INFO = hasattr(RclpySubscription, "CallbackType")


@functools.cache
def message_type(typename: str) -> Any:
    """The generated Python class of a ROS 2 message, e.g. 'sensor_msgs/msg/Image'."""
    try:
        return get_message(typename)
    except (AttributeError, ModuleNotFoundError, ValueError) as exc:
        raise TransportError(f"message type {typename} is not installed in this ROS 2 environment ({exc})") from exc


@functools.cache
def service_type(srvtype: str) -> Any:
    """The generated Python class of a ROS 2 service, e.g. 'lifecycle_msgs/srv/ChangeState'."""
    try:
        return get_service(srvtype)
    except (AttributeError, ModuleNotFoundError, ValueError) as exc:
        raise TransportError(f"service type {srvtype} is not installed in this ROS 2 environment ({exc})") from exc


def to_rclpy_qos(profile: QoSProfile) -> Any:
    """Our QoSProfile as an rclpy.qos.QoSProfile (durations of 0 stay at the RMW default)."""
    mapped = ros2_qos(profile)
    kwargs: dict[str, Any] = {
        "reliability": ReliabilityPolicy[mapped.reliability],
        "history": HistoryPolicy[mapped.history],
        "depth": mapped.depth,
        "durability": DurabilityPolicy[mapped.durability],
    }
    if mapped.deadline_ns:
        kwargs["deadline"] = Duration(nanoseconds=mapped.deadline_ns)
    if mapped.lifespan_ns:
        kwargs["lifespan"] = Duration(nanoseconds=mapped.lifespan_ns)
    return RclpyQoSProfile(**kwargs)


class EntityOwner(Protocol):
    """What an entity needs of the Ros2Node that declared it."""

    @property
    def bus(self) -> Bus:
        """The bus of the node (for its codec)."""
        ...

    @property
    def rclpy_node(self) -> Any:
        """The rclpy node the entity is created on."""
        ...

    def _forget(self, entity: Publisher | Subscription | Service) -> None:
        """The entity was closed."""
        ...


class Ros2Publisher(Publisher):
    def __init__(self, owner: EntityOwner, topic: str, typename: str, qos: QoSProfile, handle: Any) -> None:
        super().__init__(topic, typename, qos, owner.bus.codec)
        self._owner = owner
        self._handle = handle
        self.closed = False

    def publish_raw(self, data: bytes, source_timestamp_ns: int | None = None) -> None:
        if self.closed:
            raise TransportError(f"publisher on {self.topic} is closed")
        try:
            # rclpy publishes `bytes` as an already serialized message (only bytes, not
            # bytearray/memoryview, take that path).
            self._handle.publish(data if type(data) is bytes else bytes(data))
        except Exception as exc:  # rclpy raises RCLError/InvalidHandle after shutdown
            raise TransportError(f"publish on {self.topic} failed: {exc}") from exc
        self.next_sequence()
        self.published += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._owner._forget(self)
        self._owner.rclpy_node.destroy_publisher(self._handle)


class NativePublisher(Publisher):
    """Stands for a topic the hosted rclpy node already publishes (its transition events)."""

    def publish_raw(self, data: bytes, source_timestamp_ns: int | None = None) -> None:
        self.next_sequence()

    def close(self) -> None:
        pass


class Ros2Subscription(Subscription):
    def __init__(self, owner: EntityOwner, topic: str, typename: str, qos: QoSProfile, queue: SampleQueue) -> None:
        super().__init__(topic, typename, qos, queue)
        self._owner = owner
        self._count = itertools.count(1)
        self.closed = False
        callback: Callable[..., None]
        if _CALLBACKS_TAKE_INFO:
            # Exactly two positional parameters: rclpy inspects the signature to decide.
            def callback(data: bytes, info: Mapping[str, Any]) -> None:
                self._on_data(data, info)

        else:

            def callback(data: bytes) -> None:
                self._on_data(data, None)

        self._handle = owner.rclpy_node.create_subscription(
            message_type(typename),
            topic,
            callback,
            to_rclpy_qos(qos),
            # One group per subscription: its samples are queued one at a time, in arrival
            # order, while other subscriptions run on the executor's other threads.
            callback_group=MutuallyExclusiveCallbackGroup(),
            raw=True,
        )

    def _on_data(self, data: bytes, info: Mapping[str, Any] | None) -> None:
        now = time.time_ns()
        info = info or {}
        source = int(info.get("source_timestamp") or 0) or now
        sequence = info.get("publication_sequence_number")
        self.queue.put(
            Sample(
                self.topic,
                self.typename,
                bytes(data),
                MessageInfo(
                    source_timestamp_ns=source,
                    sequence_number=int(sequence) if sequence is not None else next(self._count),
                    publisher_gid=UNKNOWN_PUBLISHER,
                    received_timestamp_ns=int(info.get("received_timestamp") or 0) or now,
                ),
            )
        )

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._owner._forget(self)
        self._owner.rclpy_node.destroy_subscription(self._handle)
        self.queue.close()


class Ros2Service(Service):
    def __init__(self, owner: EntityOwner, name: str, srvtype: str, handler: ServiceHandler) -> None:
        super().__init__(name, srvtype, handler)
        self._owner = owner
        self._srv_cls = service_type(srvtype)
        self.closed = False
        self._handle = owner.rclpy_node.create_service(
            self._srv_cls, name, self._serve, callback_group=MutuallyExclusiveCallbackGroup()
        )

    def _serve(self, request: Any, response: Any) -> Any:
        try:
            answer = self.handler(bytes(serialize_message(request)))
            return deserialize_message(answer, self._srv_cls.Response)
        except Exception:
            # A reply is always sent: rclpy cannot send None, and a caller must not hang.
            _log.exception("service %s: handler failed; answering with an empty response", self.name)
            return response

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._owner._forget(self)
        self._owner.rclpy_node.destroy_service(self._handle)


class NativeService(Service):
    """Stands for a service the hosted rclpy node already serves (lifecycle, parameters)."""

    def close(self) -> None:
        pass
