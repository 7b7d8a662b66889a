"""Launch the edge_llm_ros industrial pipeline under ROS 2: pipeline.launch.py with scene:=industrial.

    ros2 launch edge_llm_ros industrial.launch.py --show-args
    ros2 launch edge_llm_ros industrial.launch.py standby_count:=1

Every argument is pipeline.launch.py's (its module docstring describes them); the scene's nodes
and parameters come from config/industrial.yaml.
"""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import IncludeLaunchDescription
from launch.launch_description import LaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource


def generate_launch_description() -> LaunchDescription:
    """Entry point of `ros2 launch edge_llm_ros industrial.launch.py`."""
    pipeline = os.path.join(get_package_share_directory("edge_llm_ros"), "launch", "pipeline.launch.py")
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(pipeline), launch_arguments={"scene": "industrial"}.items()
    )
    return LaunchDescription([include])
