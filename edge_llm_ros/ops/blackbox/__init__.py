"""The black-box recorder: a bounded window of recent traffic, written as a rosbag2 on a trigger."""

from edge_llm_ros.ops.blackbox.recorder import BlackBoxConfig, BlackBoxRecorder, Trigger
from edge_llm_ros.ops.blackbox.ring import Entry, MessageRing

__all__ = ["BlackBoxConfig", "BlackBoxRecorder", "Entry", "MessageRing", "Trigger"]
