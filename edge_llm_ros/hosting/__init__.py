"""Hosting: where nodes live. A node process of its own (zenoh/inproc), the rclpy host (ROS 2), console scripts.

This layer sits above the nodes and below the app (see docs/architecture.md): it may import any
node and the runtime, and only its rclpy modules import rclpy.
"""
