"""Model compression toolchain: INT8 quantization, structured pruning, distillation, FP16/TensorRT, and the gate.

Each step reads a parent model from the model store, works on crops of real drives (crops.py),
and writes a new version with a complete manifest (sha256, I/O spec, preprocess, labels, golden
set, provenance: parent, method, parameters) into the store. `check.py` measures a candidate
against a baseline on held-out crops and `gate.py` is the one deployment gate shared with the
lifecycle manager's hot-swap validation.

Importing this package is cheap: torch (prune, distill) and onnxconverter-common (fp16) are
imported by the modules that need them, only when they run.
"""
