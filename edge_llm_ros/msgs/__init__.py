"""ROS 2 message types and the one CDR codec every transport shares."""

from edge_llm_ros.msgs.codec import CodecError, MessageCodec, get_codec
from edge_llm_ros.msgs.typestore import Distro, build_typestore, default_distro

__all__ = ["CodecError", "Distro", "MessageCodec", "build_typestore", "default_distro", "get_codec"]
