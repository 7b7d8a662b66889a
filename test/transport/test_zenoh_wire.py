"""rmw_zenoh's wire format, checked without a session: keys, tokens, qos strings, attachment, hashes.

Expected strings are the examples of ros2/rmw_zenoh docs/design.md.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from rosbags.typesys.base import Nodetype

from edge_llm_ros.msgs.codec import MessageCodec, get_codec
from edge_llm_ros.msgs.type_hash import rihs01, service_rihs01
from edge_llm_ros.msgs.typestore import Distro, build_typestore
from edge_llm_ros.transport.qos import DEFAULT, LATCHED, SENSOR_DATA, Durability, History, QoSProfile, Reliability
from edge_llm_ros.transport.zenoh_attachment import (
    ATTACHMENT_SIZE,
    AttachmentError,
    pack_attachment,
    parse_attachment,
)
from edge_llm_ros.transport.zenoh_keys import (
    TYPE_HASH_NOT_SUPPORTED,
    EntityKind,
    InvalidKeyError,
    LivelinessEntity,
    TopicInfo,
    dds_service_type_name,
    dds_type_name,
    keyexpr_to_qos,
    liveliness_subscription_key,
    qos_to_keyexpr,
    service_key,
    topic_key,
)

STRING_HASH = "RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18"
ADD_TWO_INTS_HASH = "RIHS01_e118de6bf5eeb66a2491b5bda11202e7b68f198d6f67922cf30364858239c81a"


def test_chatter_key_matches_rmw_zenoh() -> None:
    codec = get_codec(Distro.JAZZY)
    key = topic_key(0, "/chatter", "std_msgs/msg/String", codec.type_hash("std_msgs/msg/String"))
    assert key == f"0/chatter/std_msgs::msg::dds_::String_/{STRING_HASH}"


def test_nested_topic_keeps_its_slashes() -> None:
    key = topic_key(0, "/robot1/chatter", "std_msgs/msg/String", STRING_HASH)
    assert key == f"0/robot1/chatter/std_msgs::msg::dds_::String_/{STRING_HASH}"
    assert topic_key(42, "/a/b/c/", "sensor_msgs/msg/Image", "H") == "42/a/b/c/sensor_msgs::msg::dds_::Image_/H"


def test_humble_uses_the_placeholder_hash() -> None:
    humble = MessageCodec(Distro.HUMBLE)
    key = topic_key(0, "/chatter", "std_msgs/msg/String", humble.type_hash("std_msgs/msg/String"))
    assert key == "0/chatter/std_msgs::msg::dds_::String_/TypeHashNotSupported"
    assert humble.type_hash("std_msgs/msg/String") == TYPE_HASH_NOT_SUPPORTED


def test_service_key_matches_rmw_zenoh() -> None:
    key = service_key(2, "/add_two_ints", "example_interfaces/srv/AddTwoInts", ADD_TWO_INTS_HASH)
    assert key == f"2/add_two_ints/example_interfaces::srv::dds_::AddTwoInts_/{ADD_TWO_INTS_HASH}"


@pytest.mark.parametrize("bad", ["", "/", "/a//b", "/wild/*", "/x/**", "/p%q", "/q?"])
def test_names_that_cannot_be_keys_are_refused(bad: str) -> None:
    with pytest.raises(InvalidKeyError):
        topic_key(0, bad, "std_msgs/msg/String", STRING_HASH)


@pytest.mark.parametrize("bad", ["std_msgs/String", "std_msgs/srv/String", "String", "a/msg/"])
def test_malformed_type_names_are_refused(bad: str) -> None:
    with pytest.raises(InvalidKeyError):
        dds_type_name(bad)


def test_dds_type_names() -> None:
    assert dds_type_name("sensor_msgs/msg/Image") == "sensor_msgs::msg::dds_::Image_"
    assert dds_service_type_name("lifecycle_msgs/srv/GetState") == "lifecycle_msgs::srv::dds_::GetState_"


def test_service_hash_matches_rosidl() -> None:
    # example_interfaces is not in the typestore; describe AddTwoInts as rosidl does.
    fielddefs: dict[str, Any] = dict(build_typestore(Distro.JAZZY).fielddefs)
    int64 = (Nodetype.BASE, ("int64", 0))
    fielddefs["example_interfaces/srv/AddTwoInts_Request"] = ([], [("a", int64), ("b", int64)])
    fielddefs["example_interfaces/srv/AddTwoInts_Response"] = ([], [("sum", int64)])

    assert service_rihs01("example_interfaces/srv/AddTwoInts", fielddefs) == ADD_TWO_INTS_HASH


def test_registered_service_hash_matches_rosidl() -> None:
    # lifecycle_msgs/srv/GetState on Jazzy, from rosidl_generator_c's get_state__description.c.
    fielddefs = build_typestore(Distro.JAZZY).fielddefs
    expected = "RIHS01_800a0a5aae599782b02932de0caf563f6dc4e7e94b794eadde075ba2cbef9795"
    assert service_rihs01("lifecycle_msgs/srv/GetState", fielddefs) == expected
    if "std_srvs/srv/Trigger_Request" in fielddefs:
        trigger = "RIHS01_eeff2cd6fa5ad9d27cdf4dec64818317839b62f212a91e6b5304b634b2062c5f"
        assert service_rihs01("std_srvs/srv/Trigger", fielddefs) == trigger


def test_message_hash_agrees_with_codec_and_maps_char_like_rosidl() -> None:
    store = build_typestore(Distro.JAZZY)
    assert rihs01("std_msgs/msg/String", store.fielddefs) == STRING_HASH
    assert rihs01("sensor_msgs/msg/Image", store.fielddefs) == get_codec(Distro.JAZZY).type_hash(
        "sensor_msgs/msg/Image"
    )
    # `char` is uint8 for rosidl; std_msgs/msg/Char's published Jazzy hash proves it.
    char_hash = "RIHS01_3ad2d04dd29ba19d04b16659afa3ccaedd691914b02a64e82e252f2fa6a586a9"
    assert rihs01("std_msgs/msg/Char", store.fielddefs) == char_hash


def test_unknown_service_has_no_hash() -> None:
    with pytest.raises(KeyError):
        service_rihs01("example_interfaces/srv/NeverRegistered", build_typestore(Distro.JAZZY).fielddefs)


@pytest.mark.parametrize(
    ("qos", "text"),
    [
        (QoSProfile(depth=10), "::,10:,:,:,,"),  # rclpy's default profile
        (QoSProfile(depth=7), "::,7:,:,:,,"),  # demo_nodes_cpp talker
        (QoSProfile(depth=42), "::,:,:,:,,"),  # rmw_zenoh's own default
        (SENSOR_DATA, "2::,5:,:,:,,"),
        (LATCHED, ":1:,1:,:,:,,"),
        (QoSProfile(Reliability.BEST_EFFORT, History.KEEP_ALL, 3, Durability.TRANSIENT_LOCAL), "2:1:2,3:,:,:,,"),
        (QoSProfile(deadline_s=5.0, lifespan_s=60.000003), "::,10:5,0:60,3000:,,"),
    ],
)
def test_qos_string_round_trips(qos: QoSProfile, text: str) -> None:
    assert qos_to_keyexpr(qos) == text
    assert keyexpr_to_qos(text) == qos


@pytest.mark.parametrize("bad", ["", "::", "x::,10:,:,:,,", "::,10:,:,", "9::,10:,:,:,,"])
def test_malformed_qos_strings_are_refused(bad: str) -> None:
    with pytest.raises(InvalidKeyError):
        keyexpr_to_qos(bad)


ZID = "aac3178e146ba6f1fc6e6a4085e77f21"


def test_node_token_matches_rmw_zenoh() -> None:
    node = LivelinessEntity(2, ZID, 0, 0, EntityKind.NODE, "/", "listener")
    assert node.key() == f"@ros2_lv/2/{ZID}/0/0/NN/%/%/listener"
    assert LivelinessEntity.parse(node.key()) == node


def test_entity_tokens_match_rmw_zenoh() -> None:
    sub = LivelinessEntity(
        2,
        ZID,
        0,
        10,
        EntityKind.SUBSCRIPTION,
        "/",
        "listener",
        topic=TopicInfo("/chatter", "std_msgs::msg::dds_::String_", STRING_HASH, QoSProfile(depth=10)),
    )
    expected = f"@ros2_lv/2/{ZID}/0/10/MS/%/%/listener/%chatter/std_msgs::msg::dds_::String_/{STRING_HASH}/::,10:,:,:,,"
    assert sub.key() == expected
    assert LivelinessEntity.parse(expected) == sub

    srv = LivelinessEntity(
        2,
        ZID,
        0,
        10,
        EntityKind.SERVICE,
        "/",
        "add_two_ints_server",
        topic=TopicInfo(
            "/add_two_ints", "example_interfaces::srv::dds_::AddTwoInts_", ADD_TWO_INTS_HASH, QoSProfile(depth=10)
        ),
    )
    assert srv.key() == (
        f"@ros2_lv/2/{ZID}/0/10/SS/%/%/add_two_ints_server/%add_two_ints/"
        f"example_interfaces::srv::dds_::AddTwoInts_/{ADD_TWO_INTS_HASH}/::,10:,:,:,,"
    )


def test_namespaced_tokens_are_mangled() -> None:
    pub = LivelinessEntity(
        0,
        ZID,
        3,
        4,
        EntityKind.PUBLISHER,
        "/vehicle/front",
        "camera",
        topic=TopicInfo("/vehicle/front/image", "sensor_msgs::msg::dds_::Image_", "H", SENSOR_DATA),
    )
    assert pub.key() == (
        f"@ros2_lv/0/{ZID}/3/4/MP/%/%vehicle%front/camera/%vehicle%front%image/sensor_msgs::msg::dds_::Image_/H/"
        "2::,5:,:,:,,"
    )
    parsed = LivelinessEntity.parse(pub.key())
    assert (parsed.namespace, parsed.topic and parsed.topic.name) == ("/vehicle/front", "/vehicle/front/image")


@pytest.mark.parametrize(
    "bad",
    [
        "@ros2_lv/0/z/0/0/NN/%/%",  # too short
        "@other/0/z/0/0/NN/%/%/n",
        "@ros2_lv/x/z/0/0/NN/%/%/n",
        "@ros2_lv/0/z/0/0/XX/%/%/n",
        "@ros2_lv/0/z/0/1/MP/%/%/n",  # publisher without topic
        "@ros2_lv/0/z/0/1/MP/%/%/n/%t/T/H/garbage",
    ],
)
def test_foreign_tokens_are_refused(bad: str) -> None:
    with pytest.raises(InvalidKeyError):
        LivelinessEntity.parse(bad)


def test_liveliness_subscription_key() -> None:
    assert liveliness_subscription_key(5) == "@ros2_lv/5/**"


def test_attachment_layout() -> None:
    gid = bytes(range(16))
    data = pack_attachment(7, 1_700_000_000_123_456_789, gid)

    assert len(data) == ATTACHMENT_SIZE == 33
    assert data[:8] == struct.pack("<q", 7)
    assert data[8:16] == struct.pack("<q", 1_700_000_000_123_456_789)
    assert data[16] == 16
    assert data[17:] == gid
    parsed = parse_attachment(data)
    assert (parsed.sequence_number, parsed.source_timestamp_ns, parsed.gid) == (7, 1_700_000_000_123_456_789, gid)


def test_attachment_matches_zenoh_ext_serializer() -> None:
    zext = pytest.importorskip("zenoh.ext")
    gid = bytes(range(16, 32))
    reference = zext.z_serialize((zext.Int64(-3), zext.Int64(99), gid)).to_bytes()
    assert pack_attachment(-3, 99, gid) == reference


@pytest.mark.parametrize(
    "bad",
    [
        None,
        b"",
        b"\x00" * 32,
        b"\x00" * 34,
        b"\x00" * 16 + b"\x0f" + b"\x00" * 16,  # GID length 15
        b"\x00" * 16 + b"\x90" + b"\x00" * 16,  # multi-byte varint
    ],
)
def test_malformed_attachments_are_refused(bad: bytes | None) -> None:
    with pytest.raises(AttachmentError):
        parse_attachment(bad)


def test_gid_must_be_16_bytes() -> None:
    with pytest.raises(AttachmentError):
        pack_attachment(1, 1, b"short")
    assert DEFAULT.depth == 10
