"""The defect classifier's classes: this package's names, shared by training, manifest and decider."""

from __future__ import annotations

OK_CLASS = "ok"
# Order is the model's output order (class id i = DEFECT_CLASSES[i]); "ok" first, then the defects
# of the conveyor ground truth (sim.industrial_parts.Defect, whose "none" is our "ok").
DEFECT_CLASSES: tuple[str, ...] = (OK_CLASS, "scratch", "missing_hole", "crack", "dent", "discoloration")


def class_of_defect(defect: str) -> str:
    """Ground-truth defect name ('none' for a good part) -> classifier class name."""
    name = OK_CLASS if defect == "none" else defect
    if name not in DEFECT_CLASSES:
        raise ValueError(f"unknown defect {defect!r}; known: {list(DEFECT_CLASSES[1:])} or 'none'")
    return name
