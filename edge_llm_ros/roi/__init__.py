"""Regions of interest: proposals from radar tracks merged with person detections."""
