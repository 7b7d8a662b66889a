"""Deterministic fast-path decisions (traffic warnings, industrial pass/reject)."""
