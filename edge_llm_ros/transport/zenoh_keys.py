"""rmw_zenoh's naming on the wire: topic/service key expressions and liveliness tokens.

Pure functions, no session needed, so the exact strings can be unit-tested against the ones
rmw_zenoh documents (ros2/rmw_zenoh docs/design.md, src/detail/liveliness_utils.cpp):

- data key:  ``<domain>/<fully qualified name without the outer '/'>/<DDS type>/<type hash>``,
  e.g. ``0/chatter/std_msgs::msg::dds_::String_/RIHS01_df66...``. Nested names keep their '/'
  (``0/robot1/chatter/...``); only a leading/trailing '/' is stripped.
- liveliness token: ``@ros2_lv/<domain>/<zid>/<node id>/<entity id>/<kind>/<enclave>/<namespace>/
  <node>[/<name>/<DDS type>/<type hash>/<qos>]`` where enclave, namespace and name are *mangled*
  ('/' replaced by '%', so the root namespace is just '%').
- qos string: ``<rel>:<dur>:<hist>,<depth>:<deadline s>,<ns>:<lifespan s>,<ns>:<liv>,<s>,<ns>``
  with every field left empty when it equals rmw_zenoh's default (reliable, volatile, keep_last,
  depth 42, infinite durations, automatic liveliness), e.g. ``::,10:,:,:,,`` for rclpy's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from edge_llm_ros._compat import StrEnum
from edge_llm_ros.msgs.codec import MessageCodec
from edge_llm_ros.msgs.type_hash import service_rihs01
from edge_llm_ros.msgs.typestore import build_typestore
from edge_llm_ros.transport.qos import Durability, History, QoSProfile, Reliability

ADMIN_SPACE = "@ros2_lv"
#: What rmw_zenoh's Humble branch puts where Jazzy has a RIHS01 hash (Humble has no type hashes).
TYPE_HASH_NOT_SUPPORTED = "TypeHashNotSupported"
_SLASH_REPLACEMENT = "%"

# rmw enum values (rmw/types.h), as rmw_zenoh writes them into the qos string.
_RELIABILITY_ID = {Reliability.RELIABLE: 1, Reliability.BEST_EFFORT: 2}
_DURABILITY_ID = {Durability.TRANSIENT_LOCAL: 1, Durability.VOLATILE: 2}
_HISTORY_ID = {History.KEEP_LAST: 1, History.KEEP_ALL: 2}
_ID_RELIABILITY = {v: k for k, v in _RELIABILITY_ID.items()}
_ID_DURABILITY = {v: k for k, v in _DURABILITY_ID.items()}
_ID_HISTORY = {v: k for k, v in _HISTORY_ID.items()}
# rmw_zenoh's defaults (src/detail/qos.cpp): a field equal to these is written empty.
_DEFAULT_RELIABILITY = Reliability.RELIABLE
_DEFAULT_DURABILITY = Durability.VOLATILE
_DEFAULT_HISTORY = History.KEEP_LAST
_DEFAULT_DEPTH = 42
# RMW_DURATION_INFINITE = {9223372036 s, 854775807 ns}; our profiles say "infinite" with 0.
_INFINITE_S = 9223372036
_INFINITE_NS = 854775807


class InvalidKeyError(ValueError):
    """A name that cannot become a zenoh key expression, or a token that is not rmw_zenoh's."""


class EntityKind(StrEnum):
    """The entity kinds rmw_zenoh announces with liveliness tokens."""

    NODE = "NN"
    PUBLISHER = "MP"
    SUBSCRIPTION = "MS"
    SERVICE = "SS"
    CLIENT = "SC"


def mangle(name: str) -> str:
    """Replace every '/' with '%' (rmw_zenoh's mangle_name)."""
    return name.replace("/", _SLASH_REPLACEMENT)


def demangle(name: str) -> str:
    """Inverse of `mangle`."""
    return name.replace(_SLASH_REPLACEMENT, "/")


def _split_interface(typename: str, kind: str) -> tuple[str, str]:
    parts = typename.split("/")
    if len(parts) != 3 or parts[1] != kind or not parts[0] or not parts[2]:
        raise InvalidKeyError(f"expected '<pkg>/{kind}/<Name>', got {typename!r}")
    return parts[0], parts[2]


def dds_type_name(typename: str) -> str:
    """'std_msgs/msg/String' -> 'std_msgs::msg::dds_::String_' (the name fastcdr typesupport uses)."""
    pkg, name = _split_interface(typename, "msg")
    return f"{pkg}::msg::dds_::{name}_"


def dds_service_type_name(srvtype: str) -> str:
    """'example_interfaces/srv/AddTwoInts' -> 'example_interfaces::srv::dds_::AddTwoInts_'."""
    pkg, name = _split_interface(srvtype, "srv")
    return f"{pkg}::srv::dds_::{name}_"


def _check_name(name: str) -> str:
    stripped = name.strip("/")
    if not stripped or "//" in stripped or any(c in stripped for c in "*$?#%"):
        raise InvalidKeyError(f"{name!r} cannot be used as a zenoh key expression")
    return stripped


def topic_key(domain_id: int, topic: str, typename: str, type_hash: str) -> str:
    """The key expression rmw_zenoh publishes `topic` on, e.g. '0/chatter/std_msgs::msg::dds_::String_/RIHS01_..'."""
    return f"{int(domain_id)}/{_check_name(topic)}/{dds_type_name(typename)}/{type_hash}"


def service_key(domain_id: int, service: str, srvtype: str, type_hash: str) -> str:
    """The key expression of a service's queryable (the service type and hash, not Request/Response)."""
    return f"{int(domain_id)}/{_check_name(service)}/{dds_service_type_name(srvtype)}/{type_hash}"


def _split_duration(seconds: float) -> tuple[int, int]:
    if seconds <= 0:
        return _INFINITE_S, _INFINITE_NS
    total_ns = round(seconds * 1e9)
    return total_ns // 1_000_000_000, total_ns % 1_000_000_000


def _duration_field(seconds: float) -> str:
    sec, nsec = _split_duration(seconds)
    return f"{'' if sec == _INFINITE_S else sec},{'' if nsec == _INFINITE_NS else nsec}"


def qos_to_keyexpr(qos: QoSProfile) -> str:
    """rmw_zenoh's compact QoS string for a profile (liveliness is always automatic/infinite here)."""
    rel = "" if qos.reliability is _DEFAULT_RELIABILITY else str(_RELIABILITY_ID[qos.reliability])
    dur = "" if qos.durability is _DEFAULT_DURABILITY else str(_DURABILITY_ID[qos.durability])
    hist = "" if qos.history is _DEFAULT_HISTORY else str(_HISTORY_ID[qos.history])
    depth = "" if qos.depth == _DEFAULT_DEPTH else str(qos.depth)
    return f"{rel}:{dur}:{hist},{depth}:{_duration_field(qos.deadline_s)}:{_duration_field(qos.lifespan_s)}:,,"


def _parse_duration(sec: str, nsec: str) -> float:
    s = int(sec) if sec else _INFINITE_S
    ns = int(nsec) if nsec else _INFINITE_NS
    return 0.0 if (s, ns) == (_INFINITE_S, _INFINITE_NS) else s + ns / 1e9


def keyexpr_to_qos(text: str) -> QoSProfile:
    """Parse a qos string back into a profile; raises InvalidKeyError when malformed."""
    try:
        rel, dur, hist, deadline, lifespan, _liveliness = text.split(":")
        hist_kind, depth = hist.split(",")
        d_s, d_ns = deadline.split(",")
        l_s, l_ns = lifespan.split(",")
        return QoSProfile(
            reliability=_ID_RELIABILITY[int(rel)] if rel else _DEFAULT_RELIABILITY,
            history=_ID_HISTORY[int(hist_kind)] if hist_kind else _DEFAULT_HISTORY,
            depth=int(depth) if depth else _DEFAULT_DEPTH,
            durability=_ID_DURABILITY[int(dur)] if dur else _DEFAULT_DURABILITY,
            deadline_s=_parse_duration(d_s, d_ns),
            lifespan_s=_parse_duration(l_s, l_ns),
        )
    except (ValueError, KeyError) as exc:
        raise InvalidKeyError(f"malformed rmw_zenoh qos string {text!r}: {exc}") from None


@dataclass(frozen=True)
class TopicInfo:
    """The topic/service part of an entity's liveliness token."""

    name: str
    dds_type: str
    type_hash: str
    qos: QoSProfile


@dataclass(frozen=True)
class LivelinessEntity:
    """One liveliness token, built for declaring or parsed from a received key."""

    domain_id: int
    zid: str
    node_id: int
    entity_id: int
    kind: EntityKind
    namespace: str
    node_name: str
    enclave: str = "/"
    topic: TopicInfo | None = None

    def key(self) -> str:
        """The token's key expression, exactly as rmw_zenoh forms it."""
        if (self.kind is EntityKind.NODE) != (self.topic is None):
            raise InvalidKeyError(f"{self.kind.value} token {'needs' if self.topic is None else 'has no'} topic")
        parts = [
            ADMIN_SPACE,
            str(self.domain_id),
            self.zid,
            str(self.node_id),
            str(self.entity_id),
            self.kind.value,
            mangle(self.enclave),
            mangle(self.namespace),
            mangle(self.node_name),
        ]
        if self.topic is not None:
            parts += [
                mangle(self.topic.name),
                mangle(self.topic.dds_type),
                mangle(self.topic.type_hash),
                qos_to_keyexpr(self.topic.qos),
            ]
        return "/".join(parts)

    @classmethod
    def parse(cls, key: str) -> LivelinessEntity:
        """Parse a token key; raises InvalidKeyError on anything rmw_zenoh would also reject."""
        parts = key.split("/")
        if len(parts) < 9 or parts[0] != ADMIN_SPACE or any(not p for p in parts):
            raise InvalidKeyError(f"not an rmw_zenoh liveliness token: {key!r}")
        try:
            kind = EntityKind(parts[5])
            domain_id, node_id, entity_id = int(parts[1]), int(parts[3]), int(parts[4])
        except ValueError:
            raise InvalidKeyError(f"malformed liveliness token: {key!r}") from None
        topic = None
        if kind is EntityKind.NODE:
            if len(parts) != 9:
                raise InvalidKeyError(f"node token with extra parts: {key!r}")
        else:
            if len(parts) != 13:
                raise InvalidKeyError(f"{kind.value} token without topic parts: {key!r}")
            topic = TopicInfo(demangle(parts[9]), demangle(parts[10]), demangle(parts[11]), keyexpr_to_qos(parts[12]))
        return cls(
            domain_id=domain_id,
            zid=parts[2],
            node_id=node_id,
            entity_id=entity_id,
            kind=kind,
            namespace=demangle(parts[7]),
            node_name=demangle(parts[8]),
            enclave=demangle(parts[6]),
            topic=topic,
        )


def liveliness_subscription_key(domain_id: int) -> str:
    """What a graph watcher subscribes to: every token of one domain."""
    return f"{ADMIN_SPACE}/{int(domain_id)}/**"


def service_type_hash(codec: MessageCodec, srvtype: str, overrides: Mapping[str, str]) -> str:
    """The type hash a service's key carries.

    In order: an override (zenoh settings' service_type_hashes); Humble's placeholder
    'TypeHashNotSupported' (rmw_zenoh on Humble sends it for everything); the codec's hash if it
    registers `srvtype` itself; the REP-2011 hash computed from the typestore's
    `<srvtype>_Request`/`_Response` structs (msgs.type_hash); otherwise the placeholder
    'TypeHashNotSupported'. With the placeholder our servers and clients meet each other, but a
    Jazzy rmw_zenoh peer only meets them once the real hash is given as an override.
    """
    value = overrides.get(srvtype)
    if value is not None:
        return value
    if not codec.distro.has_type_hashes:
        return TYPE_HASH_NOT_SUPPORTED
    if codec.knows(srvtype):
        return codec.type_hash(srvtype)
    try:
        return service_rihs01(srvtype, build_typestore(codec.distro).fielddefs)
    except KeyError:
        return TYPE_HASH_NOT_SUPPORTED
