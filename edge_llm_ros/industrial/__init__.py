"""Industrial inspection: part proposals from a conveyor camera, part tracking, pass/reject decisions.

Plain Python + numpy/OpenCV (no transport): the roi_preprocess node runs `PartProposer` when its
`proposals` parameter is `parts`, and the decision node runs `IndustrialDecider` for
`scene: industrial`.
"""

from edge_llm_ros.industrial.classes import DEFECT_CLASSES, OK_CLASS

__all__ = ["DEFECT_CLASSES", "OK_CLASS"]
