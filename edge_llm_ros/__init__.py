"""edge_llm_ros: a ROS 2 perception-to-decision pipeline for edge computers.

Importing this package never needs ROS 2: rclpy is only imported by
`edge_llm_ros.transport.ros2_bus`, and only when that transport is chosen.
"""

__version__ = "0.1.0"
