"""Default topic names and message types of the pipeline (all remappable)."""

from __future__ import annotations

IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
RADAR_TRACKS = "radar_msgs/msg/RadarTracks"
NAV_SAT_FIX = "sensor_msgs/msg/NavSatFix"
STRING = "std_msgs/msg/String"
DETECTIONS = "vision_msgs/msg/Detection2DArray"
DIAGNOSTICS = "diagnostic_msgs/msg/DiagnosticArray"

FUSED_SCENE_TOPIC = "/edge_llm/fused_scene"
PROPOSALS_TOPIC = "/edge_llm/roi/proposals"
DETECTIONS_TOPIC = "/edge_llm/detections"
DECISION_TOPIC = "/edge_llm/decision"
TIMING_TOPIC = "/edge_llm/stage_timing"
ADVISORY_TOPIC = "/edge_llm/advisory"
ADVISORY_TOKENS_TOPIC = "/edge_llm/advisory/tokens"
LLM_REQUEST_TOPIC = "/edge_llm/llm/request"
DIAGNOSTICS_TOPIC = "/diagnostics"

#: Message types of the sensor inputs: what a bag player publishes into the pipeline.
SENSOR_INPUT_TYPES = frozenset(
    {IMAGE, CAMERA_INFO, RADAR_TRACKS, NAV_SAT_FIX, "sensor_msgs/msg/CompressedImage"}
)


def camera_topics(camera: str) -> tuple[str, str]:
    """(image, camera_info) topics of a camera named e.g. 'camera' or 'front_camera'."""
    return f"/{camera}/image_raw", f"/{camera}/camera_info"
