"""Regions of interest: proposals from radar and a person detector, and letterboxed crops."""
