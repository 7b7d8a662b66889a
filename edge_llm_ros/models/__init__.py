"""Model store, manifests, sha256 pinning, golden sets and label maps.

Plain Python + numpy; `edge_llm_ros.app.prepare` (torch at prepare time) is imported only on demand.
"""

from edge_llm_ros.models.errors import (
    ManifestError,
    ModelError,
    ModelNotFoundError,
    ModelSpecError,
    Sha256MismatchError,
)
from edge_llm_ros.models.golden import GoldenSet
from edge_llm_ros.models.hashing import sha256_file, verify_sha256
from edge_llm_ros.models.manifest import (
    AccuracyGate,
    DetectorSpec,
    FileEntry,
    GoldenSpec,
    LabelMap,
    Manifest,
    PreprocessSpec,
    Provenance,
    TensorSpec,
)
from edge_llm_ros.models.store import ModelRef, ModelStore, default_store_root

__all__ = [
    "AccuracyGate",
    "DetectorSpec",
    "FileEntry",
    "GoldenSet",
    "GoldenSpec",
    "LabelMap",
    "Manifest",
    "ManifestError",
    "ModelError",
    "ModelNotFoundError",
    "ModelRef",
    "ModelSpecError",
    "ModelStore",
    "PreprocessSpec",
    "Provenance",
    "Sha256MismatchError",
    "TensorSpec",
    "default_store_root",
    "sha256_file",
    "verify_sha256",
]
