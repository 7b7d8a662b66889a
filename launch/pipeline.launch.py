"""Launch the edge_llm_ros pipeline of any scene under ROS 2: the one launch description every scene includes.

    ros2 launch edge_llm_ros pipeline.launch.py scene:=traffic --show-args
    ros2 launch edge_llm_ros traffic.launch.py standby_count:=1 use_sim_time:=true
    ros2 bag play <drive> --clock        # in another shell, with use_sim_time:=true above

A scene's own launch file (traffic.launch.py, industrial.launch.py, ...) only includes this one
with `scene:=<name>`; everything a scene changes is in its config/<scene>.yaml.

Starts, as launch_ros LifecycleNode actions:
- every worker node the scene's params file lists under lifecycle_manager.node_names (the node
  kind is its console script, and its node name; edge_llm_ros.nodes.kinds lists them), plus
  llm_inference with llm:=on;
- `standby_count` warm standbys of each worker, named <kind>_standby_<i>: configured and inactive,
  activated by the manager when the active one dies; launch respawns a dead node process, and
  the manager configures it as the new standby;
- the lifecycle manager, self-activating (--autostart) and then, with its `autostart` parameter,
  bringing every worker up in order.

Parameters come from config/<scene>.yaml (or the `params_file` argument), read with the
package's own params-file rules (edge_llm_ros.runtime.params). A standby's name matches no section
of that file, so it gets its kind's section explicitly; standby names follow
edge_llm_ros.manager.roles.standby_name, as the lifecycle manager expects. The sensor inputs can
be remapped (camera_topic, camera_info_topic, radar_topic, gps_topic); `namespace` applies to the
node names (the pipeline's topics are absolute).
"""

from __future__ import annotations

import os
from typing import Any

from ament_index_python.packages import get_package_share_directory
from launch.action import Action
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.launch_context import LaunchContext
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode

from edge_llm_ros.manager.roles import standby_name
from edge_llm_ros.nodes.kinds import MANAGER_KIND, NODE_CLASSES
from edge_llm_ros.runtime.params import ParameterError, load_params_file, params_for_node

PACKAGE = "edge_llm_ros"
DEFAULT_SCENE = "traffic"
#: Worker kinds when a params file names none, in bring-up order.
DEFAULT_WORKERS = ("sensor_fusion", "roi_preprocess", "vision_inference", "decision")
LLM_KIND = "llm_inference"
#: The LLM is advisory (never on the safety path): no warm standby for it.
NO_STANDBY = frozenset({LLM_KIND})
#: Mirrors the manager's node_heartbeat_period_s default; the params file may set another.
DEFAULT_HEARTBEAT_PERIOD_S = 0.01
#: Under rclpy every heartbeat costs Python time in the node and in the manager (9 nodes at 100 Hz
#: keep a core of a small machine a tenth busy): launch beats at 20 Hz unless told otherwise.
LAUNCH_HEARTBEAT_PERIOD_S = "0.05"
HEARTBEAT_TIMEOUT_PERIODS = 5
MODEL_STORE_ENV = "EDGE_LLM_ROS_MODEL_STORE"

#: (launch argument, default topic the nodes use, description).
SENSOR_REMAPS = (
    ("camera_topic", "/camera/image_raw", "Camera image input (sensor_msgs/Image) of every node that reads it"),
    ("camera_info_topic", "/camera/camera_info", "Camera intrinsics input (sensor_msgs/CameraInfo)"),
    ("radar_topic", "/radar/tracks", "Radar tracks input (radar_msgs/RadarTracks)"),
    ("gps_topic", "/gps/fix", "GPS input (sensor_msgs/NavSatFix)"),
)


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "on", "yes")


def _setup(context: LaunchContext) -> list[Action]:
    """Build the node actions once the launch arguments are known."""

    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    scene = arg("scene")
    params_file = arg("params_file") or os.path.join(get_package_share_directory(PACKAGE), "config", f"{scene}.yaml")
    if not os.path.isfile(params_file):
        raise RuntimeError(f"{scene}: parameters file {params_file!r} not found (scene:=... or params_file:=...)")
    try:
        document = load_params_file(params_file)
        manager_params = params_for_node(document, MANAGER_KIND)
    except ParameterError as exc:
        raise RuntimeError(f"{scene}: {exc}") from exc
    kinds = [str(k) for k in manager_params.get("node_names") or DEFAULT_WORKERS]
    llm = _truthy(arg("llm"))
    if llm and LLM_KIND not in kinds:
        kinds.append(LLM_KIND)
    if not llm:
        kinds = [k for k in kinds if k != LLM_KIND]
    unknown = [k for k in kinds if k not in NODE_CLASSES or k == MANAGER_KIND]
    if unknown:
        raise RuntimeError(f"{params_file}: node_names has {unknown}; node kinds: {list(NODE_CLASSES)}")
    try:
        standby_count = int(arg("standby_count"))
    except ValueError:
        raise RuntimeError(f"standby_count must be an integer, got {arg('standby_count')!r}") from None
    if not 0 <= standby_count <= 8:
        raise RuntimeError(f"standby_count must be in 0..8, got {standby_count}")

    namespace = arg("namespace")
    use_sim_time = _truthy(arg("use_sim_time"))
    log_level = arg("log_level")
    try:
        file_heartbeat = manager_params.get("node_heartbeat_period_s", DEFAULT_HEARTBEAT_PERIOD_S)
        heartbeat = float(arg("heartbeat_period_s") or file_heartbeat)
    except ValueError:
        raise RuntimeError(f"heartbeat_period_s must be a number, got {arg('heartbeat_period_s')!r}") from None
    # The manager declares a node dead after this much silence: keep several periods of slack.
    file_timeout = float(manager_params.get("heartbeat_timeout_s", 0.0))
    heartbeat_timeout = max(file_timeout, HEARTBEAT_TIMEOUT_PERIODS * heartbeat)
    remappings = [(default, arg(name)) for name, default, _ in SENSOR_REMAPS if arg(name) != default]
    try:
        metrics_base = int(arg("metrics_port"))
    except ValueError:
        raise RuntimeError(f"metrics_port must be an integer, got {arg('metrics_port')!r}") from None
    ports = iter(range(metrics_base, 65536)) if metrics_base > 0 else None

    def metrics_port() -> int:
        # -1: off; 0: any free port (each process logs it); N: N, N+1, ... in launch order.
        return metrics_base if ports is None else next(ports)

    actions: list[Action] = []
    model_store = arg("model_store")
    if model_store:
        # Every process resolves models (and the manager validates swaps) in this store.
        actions.append(SetEnvironmentVariable(MODEL_STORE_ENV, model_store))

    for kind in kinds:
        copies = 0 if kind in NO_STANDBY else standby_count
        for index in range(copies + 1):
            name = standby_name(kind, index)
            parameters: list[Any] = [params_file]
            if name != kind:
                parameters.append(params_for_node(document, kind))
            # With standbys, every instance fences its outputs so a frame is never published twice
            # across a failover or swap (runtime/exclusive.py).
            parameters.append(
                {
                    "use_sim_time": use_sim_time,
                    "heartbeat_period_s": heartbeat,
                    "exclusive_outputs": copies > 0,
                    "metrics_port": metrics_port(),
                }
            )
            actions.append(
                LifecycleNode(
                    package=PACKAGE,
                    executable=kind,
                    name=name,
                    namespace=namespace,
                    parameters=parameters,
                    remappings=remappings,
                    ros_arguments=["--log-level", log_level],
                    output="screen",
                    # A killed node comes back under the same name; the manager, which has
                    # activated a standby meanwhile, configures it as the new standby.
                    respawn=True,
                    respawn_delay=1.0,
                )
            )

    manager_overrides: dict[str, Any] = {
        "node_names": kinds,
        "autostart": True,
        "node_heartbeat_period_s": heartbeat,
        "heartbeat_timeout_s": heartbeat_timeout,
        "use_sim_time": use_sim_time,
        "metrics_port": metrics_port(),
        # Only kinds that have standbys: the manager declares standbys.<kind> for worker kinds.
        **{f"standbys.{kind}": standby_count for kind in kinds if kind not in NO_STANDBY},
    }
    actions.append(
        LifecycleNode(
            package=PACKAGE,
            executable=MANAGER_KIND,
            name=MANAGER_KIND,
            namespace=namespace,
            parameters=[params_file, manager_overrides],
            arguments=["--autostart"],
            ros_arguments=["--log-level", log_level],
            output="screen",
        )
    )
    return actions


def generate_launch_description() -> LaunchDescription:
    """The whole pipeline of a scene (config/<scene>.yaml), with its documented arguments."""
    arguments = [
        DeclareLaunchArgument(
            "scene",
            default_value=DEFAULT_SCENE,
            description="Scene whose config/<scene>.yaml gives node_names and every node's parameters",
        ),
        DeclareLaunchArgument(
            "namespace", default_value="", description="Namespace of every node (node names; topics are absolute)"
        ),
        DeclareLaunchArgument(
            "use_sim_time",
            default_value="false",
            choices=["true", "false"],
            description="Follow /clock (ros2 bag play --clock) instead of wall time",
        ),
        DeclareLaunchArgument(
            "model_store",
            default_value="",
            description=f"Model store directory for every node ({MODEL_STORE_ENV}); '' = "
            f"${MODEL_STORE_ENV} or ~/.cache/edge_llm_ros/models",
        ),
        DeclareLaunchArgument(
            "llm",
            default_value="off",
            choices=["on", "off", "true", "false"],
            description="Run the LLM advisory node (llm_inference); it never sits on the safety path",
        ),
        DeclareLaunchArgument(
            "standby_count",
            default_value="1",
            description="Warm standbys per worker node (<node>_standby_<i>, configured and inactive), 0..8",
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value="",
            description="ROS 2 parameters file of the scene ('' = the installed config/<scene>.yaml)",
        ),
        DeclareLaunchArgument(
            "heartbeat_period_s",
            default_value=LAUNCH_HEARTBEAT_PERIOD_S,
            description="Heartbeat period of every node (s); the manager fails a node over after "
            f"{HEARTBEAT_TIMEOUT_PERIODS} silent periods. '' = the params file's node_heartbeat_period_s",
        ),
        DeclareLaunchArgument(
            "metrics_port",
            default_value="-1",
            description="Prometheus /metrics of every node process on 127.0.0.1: -1 off, 0 any free port "
            "(logged), N ports N, N+1, ... in launch order",
        ),
        DeclareLaunchArgument(
            "log_level",
            default_value="info",
            choices=["debug", "info", "warn", "error", "fatal"],
            description="Log level of every node",
        ),
        *(
            DeclareLaunchArgument(name, default_value=default, description=text)
            for name, default, text in SENSOR_REMAPS
        ),
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_setup)])
