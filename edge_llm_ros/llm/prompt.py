"""A compact LLM prompt from a scene summary, rendered from a template string.

The template comes from the scene YAML (a `string.Template`: `$name` placeholders, so JSON braces
in the text need no escaping); DEFAULT_TEMPLATE is used otherwise. Placeholders:

    $scene          scene name ("traffic", "industrial", ...)
    $ego_speed_mps  ego speed in m/s, one decimal ("unknown" when missing)
    $ego_speed_kmh  the same in km/h, integer
    $n_objects      number of objects in the scene
    $objects        one line per object (most urgent first, at most max_objects), from the
                    object template ($id $label $range_m $ttc_s $lane), or "none"
    $actions        the actions allowed in this scene, "A | B | C"

The messages (system + user) go through the model's chat template when the engine exposes one
(`LlmEngine.format_chat`); otherwise `plain_chat` renders them as documented there.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from edge_llm_ros.scenes import get_scene, scene_names

# Short on purpose: prefill dominates time to first token on a CPU (~400 prompt tokens/s for
# SmolLM2-135M int4 here), and a 135M model copies placeholder text from an answer template
# ("explanation": "one short sentence"), so the JSON shape is left to the schema/guidance.
DEFAULT_SYSTEM_PROMPT = "You are a safety advisor for an autonomous machine. Answer with JSON only."
DEFAULT_TEMPLATE = (
    "Scene: $scene. Ego speed: $ego_speed_mps m/s. Objects ($n_objects):\n$objects\n"
    "Which object is most dangerous and what should be done ($actions)? Explain briefly."
)
DEFAULT_OBJECT_TEMPLATE = "- id $id: $label, range $range_m m, TTC $ttc_s s, lane $lane"
SCENE_FIELDS = frozenset({"scene", "ego_speed_mps", "ego_speed_kmh", "n_objects", "objects", "actions"})
OBJECT_FIELDS = frozenset({"id", "label", "range_m", "ttc_s", "lane"})

ChatFormatter = Callable[[Sequence[Mapping[str, str]]], str]


@dataclass(frozen=True)
class SceneObject:
    """One object as the LLM sees it. Missing measurements are None."""

    object_id: int
    label: str
    range_m: float | None = None
    ttc_s: float | None = None
    lane: str | None = None


@dataclass(frozen=True)
class SceneSummary:
    """What the decision node knows about one frame, reduced for a prompt."""

    scene: str
    ego_speed_mps: float | None
    objects: tuple[SceneObject, ...] = ()
    stamp_ns: int = 0
    actions: tuple[str, ...] = field(default=())

    def allowed_actions(self) -> tuple[str, ...]:
        """Explicit actions, else the scene's defaults, else every known action."""
        if self.actions:
            return self.actions
        if self.scene in scene_names():
            return get_scene(self.scene).actions
        return tuple(dict.fromkeys(a for name in scene_names() for a in get_scene(name).actions))


def plain_chat(messages: Sequence[Mapping[str, str]]) -> str:
    """Prompt format for models without a chat template.

    Each message becomes "<Role>: <content>" on its own line (role capitalised: "System:",
    "User:"), then a final "Assistant:" line for the model to continue.
    """
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n".join([*lines, "Assistant:"])


def _check_template(template: str, allowed: frozenset[str], what: str) -> string.Template:
    parsed = string.Template(template)
    # Template.is_valid()/get_identifiers() are 3.11+: read the template's own pattern instead.
    identifiers: set[str] = set()
    for match in parsed.pattern.finditer(template):
        if match.group("invalid") is not None:
            raise ValueError(f"{what} is not a valid $-template: {template!r}")
        name = match.group("named") or match.group("braced")
        if name is not None:
            identifiers.add(name)
    unknown = sorted(identifiers - allowed)
    if unknown:
        raise ValueError(f"{what} uses unknown placeholders {unknown}; allowed: {sorted(allowed)}")
    return parsed


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return "unknown"
    return f"{value:.{digits}f}"


def _urgency(obj: SceneObject) -> tuple[float, float]:
    ttc = obj.ttc_s if obj.ttc_s is not None and math.isfinite(obj.ttc_s) and obj.ttc_s >= 0 else math.inf
    rng = obj.range_m if obj.range_m is not None and math.isfinite(obj.range_m) else math.inf
    return (ttc, rng)


class PromptBuilder:
    """Renders scene summaries into prompts. Templates are checked here, at configure time."""

    def __init__(
        self,
        template: str = DEFAULT_TEMPLATE,
        *,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        object_template: str = DEFAULT_OBJECT_TEMPLATE,
        max_objects: int = 8,
        chat_format: ChatFormatter | None = None,
    ) -> None:
        if max_objects < 1:
            raise ValueError(f"max_objects must be >= 1, got {max_objects}")
        self._template = _check_template(template, SCENE_FIELDS, "prompt template")
        self._object_template = _check_template(object_template, OBJECT_FIELDS, "object template")
        self.system_prompt = system_prompt
        self.max_objects = max_objects
        self._chat_format = chat_format or plain_chat

    def selected_objects(self, scene: SceneSummary) -> tuple[SceneObject, ...]:
        """The objects the prompt shows: most urgent (lowest TTC, then range) first, capped."""
        return tuple(sorted(scene.objects, key=_urgency)[: self.max_objects])

    def user_message(self, scene: SceneSummary) -> str:
        """The user turn: the template filled from `scene`."""
        shown = self.selected_objects(scene)
        lines = [
            self._object_template.substitute(
                id=obj.object_id,
                label=obj.label,
                range_m=_num(obj.range_m),
                ttc_s=_num(obj.ttc_s),
                lane=obj.lane or "unknown",
            )
            for obj in shown
        ]
        if len(scene.objects) > len(shown):
            lines.append(f"(+{len(scene.objects) - len(shown)} farther objects)")
        speed = scene.ego_speed_mps
        return self._template.substitute(
            scene=scene.scene,
            ego_speed_mps=_num(speed),
            ego_speed_kmh=_num(speed * 3.6 if speed is not None else None, 0),
            n_objects=len(scene.objects),
            objects="\n".join(lines) if lines else "none",
            actions=" | ".join(scene.allowed_actions()),
        )

    def messages(self, scene: SceneSummary) -> list[dict[str, str]]:
        """System and user messages for `scene`."""
        return [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": self.user_message(scene)},
        ]

    def build(self, scene: SceneSummary) -> str:
        """The full prompt text, through the chat formatter."""
        return self._chat_format(self.messages(scene))
