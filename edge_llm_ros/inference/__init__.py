"""Inference components: the onnxruntime engine, I/O specs, pre/post-processing, golden checks, batcher."""
