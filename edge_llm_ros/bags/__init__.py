"""rosbag2 I/O (mcap by default, sqlite3 selectable) with payloads from our CDR codec."""

from edge_llm_ros.bags.errors import BagError
from edge_llm_ros.bags.info import BagInfo, TopicSummary, bag_info, format_bag_info
from edge_llm_ros.bags.reader import BagMessage, BagReader, read_messages
from edge_llm_ros.bags.writer import BagWriter, Storage, to_rosbag_qos

__all__ = [
    "BagError",
    "BagInfo",
    "BagMessage",
    "BagReader",
    "BagWriter",
    "Storage",
    "TopicSummary",
    "bag_info",
    "format_bag_info",
    "read_messages",
    "to_rosbag_qos",
]
