"""The rosbags typestore for a ROS 2 distro, extended with vision_msgs and radar_msgs.

The .msg files under `definitions/` are the interface definitions as released for Humble and Jazzy
(vision_msgs 4.1.x, radar_msgs 0.2.x, both Apache-2.0); registering them lets rosbags serialise
those types and compute their RIHS01 hashes exactly as rosidl does. rosbags ships no service
types, so the lifecycle_msgs services we call are registered as their `<Srv>_Request` /
`<Srv>_Response` structs, the form rosidl generates and rmw serialises.
"""

from __future__ import annotations

import functools
import os
from importlib import resources

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from edge_llm_ros._compat import StrEnum


class Distro(StrEnum):
    """ROS 2 distributions whose message definitions (and type hashes) we speak."""

    HUMBLE = "humble"
    JAZZY = "jazzy"

    @property
    def has_type_hashes(self) -> bool:
        """Humble predates REP-2011 type hashes; rmw_zenoh's humble branch sends a placeholder."""
        return self is not Distro.HUMBLE


_STORES = {Distro.HUMBLE: Stores.ROS2_HUMBLE, Distro.JAZZY: Stores.ROS2_JAZZY}
_EXTRA_PACKAGES = ("vision_msgs", "radar_msgs", "lifecycle_msgs", "std_srvs", "rcl_interfaces")


def default_distro() -> Distro:
    """The distro named by ROS_DISTRO when it is one we know, else Jazzy."""
    name = os.environ.get("EDGE_LLM_ROS_DISTRO") or os.environ.get("ROS_DISTRO", "")
    try:
        return Distro(name.lower())
    except ValueError:
        return Distro.JAZZY


def _extra_definitions() -> dict[str, str]:
    """Map 'pkg/msg/Name' to .msg text for the packages rosbags does not ship."""
    root = resources.files("edge_llm_ros.msgs") / "definitions"
    found: dict[str, str] = {}
    for package in _EXTRA_PACKAGES:
        for entry in (root / package).iterdir():
            if entry.name.endswith(".msg"):
                stem = entry.name[:-4]
                # Service request/response structs live under srv/, as rosidl names them.
                kind = "srv" if stem.endswith(("_Request", "_Response")) else "msg"
                found[f"{package}/{kind}/{stem}"] = entry.read_text(encoding="utf-8")
    return found


@functools.cache
def build_typestore(distro: Distro) -> Typestore:
    """A typestore with the distro's standard types plus vision_msgs and radar_msgs."""
    store = get_typestore(_STORES[distro])
    types = {}
    for name, text in sorted(_extra_definitions().items()):
        # rosbags files every parsed definition under '<pkg>/msg/'; one file is one struct, so
        # keep the name we gave it (this is what puts service structs under '/srv/').
        ((_, fields),) = get_types_from_msg(text, name.replace("/srv/", "/msg/")).items()
        types[name] = fields
    store.register(types)
    return store
