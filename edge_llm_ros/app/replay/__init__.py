"""Replay a recorded drive through the pipeline and measure what comes out."""
