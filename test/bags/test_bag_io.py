"""Round trips through real rosbag2 files (mcap and sqlite3) and the damage a reader must report."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.interfaces import ConnectionExtRosbag2
from rosbags.rosbag2 import Reader

from edge_llm_ros.bags import BagError, BagReader, BagWriter, bag_info, format_bag_info, read_messages
from edge_llm_ros.msgs import CodecError, get_codec
from edge_llm_ros.transport.qos import SENSOR_DATA

CODEC = get_codec()
STRING = "std_msgs/msg/String"
IMAGE = "sensor_msgs/msg/Image"
T0 = 1_700_000_000_000_000_000


def _image(stamp: int) -> object:
    time_cls = CODEC.msg_class("builtin_interfaces/msg/Time")
    header = CODEC.msg_class("std_msgs/msg/Header")(
        stamp=time_cls(sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id="cam"
    )
    data = np.full(4 * 3 * 3, stamp % 251, np.uint8)
    return CODEC.msg_class(IMAGE)(header=header, height=3, width=4, encoding="rgb8", is_bigendian=0, step=12, data=data)


def _write(path: Path, storage: str = "mcap", n: int = 50) -> None:
    text = CODEC.msg_class(STRING)
    with BagWriter(path, storage=storage) as writer:
        writer.add_topic("/chatter", STRING)
        writer.add_topic("/camera/image_raw", IMAGE, SENSOR_DATA)
        writer.set_custom_data("edge_llm_ros/test", "42")
        for i in range(n):
            # Images at 20 Hz, strings at 10 Hz, written interleaved.
            writer.write("/camera/image_raw", T0 + i * 50_000_000, _image(T0 + i * 50_000_000))
            if i % 2 == 0:
                writer.write("/chatter", T0 + i * 50_000_000 + 1, text(data=f"msg {i}"))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_round_trip_in_time_order(tmp_path: Path, storage: str) -> None:
    bag = tmp_path / "bag"
    _write(bag, storage)
    messages = list(read_messages(bag))
    assert len(messages) == 75
    stamps = [m.stamp_ns for m in messages]
    assert stamps == sorted(stamps)
    first_text = next(m for m in messages if m.topic == "/chatter")
    assert first_text.typename == STRING
    assert first_text.data[:4] == b"\x00\x01\x00\x00"  # CDR little-endian encapsulation header
    assert CODEC.deserialize(first_text.data, STRING).data == "msg 0"
    with BagReader(bag) as reader:
        assert reader.topics == {"/chatter": STRING, "/camera/image_raw": IMAGE}
        assert reader.counts == {"/chatter": 25, "/camera/image_raw": 50}
        assert reader.storage == storage
        assert reader.custom_data == {"edge_llm_ros/test": "42"}
        images = [reader.decode(m) for m in reader.messages(["/camera/image_raw"])]
    assert [im.header.stamp.nanosec for im in images[:3]] == [0, 50_000_000, 100_000_000]
    assert images[1].data.tolist() == _image(T0 + 50_000_000).data.tolist()  # type: ignore[attr-defined]


def test_bytes_match_rosbags_own_reader_and_metadata(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    _write(bag)
    with Reader(bag) as reader:
        conn = next(c for c in reader.connections if c.topic == "/camera/image_raw")
        assert isinstance(conn.ext, ConnectionExtRosbag2)
        assert conn.ext.serialization_format == "cdr"
        assert conn.digest.startswith("RIHS01_")
        qos = conn.ext.offered_qos_profiles[0]
        assert qos.reliability.name == "BEST_EFFORT" and qos.depth == 5
        assert conn.msgdef.data.startswith("std_msgs/Header header")
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 8
    assert meta["storage_identifier"] == "mcap"
    # Version 8 keeps offered_qos_profiles as a YAML string, which Humble's and Jazzy's rosbag2 parse.
    assert all(isinstance(t["topic_metadata"]["offered_qos_profiles"], str) for t in meta["topics_with_message_count"])


def test_topic_filter_and_unknown_topic(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    _write(bag)
    with BagReader(bag) as reader:
        assert {m.topic for m in reader.messages(["/chatter"])} == {"/chatter"}
        assert sum(1 for _ in reader.messages(["/chatter"], start_ns=T0, stop_ns=T0 + 500_000_000)) == 5
        with pytest.raises(BagError, match="no topic"):
            list(reader.messages(["/nope"]))


def test_bag_info_counts_rates_and_table(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    _write(bag, "sqlite3")
    info = bag_info(bag)
    assert info.message_count == 75
    assert info.topic("/camera/image_raw").count == 50
    assert info.topic("/camera/image_raw").rate_hz == pytest.approx(20.0)
    assert info.topic("/chatter").rate_hz == pytest.approx(10.0, rel=1e-6)
    assert info.duration_s == pytest.approx(2.45, abs=1e-6)
    table = format_bag_info(info)
    assert "/camera/image_raw" in table and "sensor_msgs/msg/Image" in table and "20.00" in table


def test_writer_refuses_existing_path_and_unknown_topic(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    _write(bag)
    with pytest.raises(BagError, match="exists"):
        BagWriter(bag)
    with BagWriter(tmp_path / "other") as writer, pytest.raises(BagError, match="not added"):
        writer.write_raw("/missing", T0, b"\x00\x01\x00\x00")
    with pytest.raises(CodecError):
        BagWriter(tmp_path / "third").add_topic("/x", "nope_msgs/msg/Nothing")


def test_exception_inside_writer_leaves_no_metadata(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    with pytest.raises(RuntimeError), BagWriter(bag) as writer:
        writer.add_topic("/chatter", STRING)
        raise RuntimeError("generator failed")
    assert not (bag / "metadata.yaml").exists()
    with pytest.raises(BagError, match="not a rosbag2"):
        bag_info(bag)


def test_missing_bag_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="no such bag"):
        bag_info(tmp_path / "absent")


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_truncated_bag_is_a_clear_error(tmp_path: Path, storage: str) -> None:
    bag = tmp_path / "bag"
    _write(bag, storage, n=400)
    data_file = next(p for p in bag.iterdir() if p.suffix in (".mcap", ".db3"))
    with data_file.open("r+b") as fh:
        fh.truncate(data_file.stat().st_size // 2)
    with pytest.raises(BagError, match="truncated or corrupt"):
        bag_info(bag)


def test_garbage_inside_mcap_is_a_clear_error(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    _write(bag, n=400)
    damaged = tmp_path / "damaged"
    shutil.copytree(bag, damaged)
    data_file = next(damaged.glob("*.mcap"))
    size = data_file.stat().st_size
    with data_file.open("r+b") as fh:
        fh.seek(size // 3)
        fh.write(np.random.default_rng(0).bytes(4096))
    with pytest.raises(BagError, match="truncated or corrupt"):
        list(read_messages(damaged))


def test_independent_mcap_reader_decodes_with_embedded_schemas(tmp_path: Path) -> None:
    # Foxglove's mcap + mcap-ros2-support decode from the ros2msg schema text stored in the file,
    # the same information `ros2 bag play` relies on: a check that does not reuse rosbags.
    mcap_reader = pytest.importorskip("mcap.reader")
    ros2_decoder = pytest.importorskip("mcap_ros2.decoder")
    bag = tmp_path / "bag"
    _write(bag, n=10)
    with next(bag.glob("*.mcap")).open("rb") as fh:
        reader = mcap_reader.make_reader(fh, decoder_factories=[ros2_decoder.DecoderFactory()])
        assert reader.get_header().profile == "ros2"
        decoded = list(reader.iter_decoded_messages())
    assert len(decoded) == 15
    topics = {channel.topic: schema.name for schema, channel, _, _ in decoded}
    assert topics == {"/chatter": STRING, "/camera/image_raw": IMAGE}
    image = next(msg for _, channel, _, msg in decoded if channel.topic == "/camera/image_raw")
    assert (image.width, image.height, image.encoding, image.header.frame_id) == (4, 3, "rgb8", "cam")
