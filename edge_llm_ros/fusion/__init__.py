"""Sensor fusion: time sync of camera, radar and GPS; radar projected into the image."""
