"""Applications built from the layers below: pipeline assembly, replay and run sessions, model preparation, benches.

The command line (edge_llm_ros.cli) is the only layer above this one (see docs/architecture.md).
"""
