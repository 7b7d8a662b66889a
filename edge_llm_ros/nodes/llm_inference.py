"""llm_inference node: advisory requests -> schema-valid advisories on /edge_llm/advisory.

Never on the safety path: the decision node has already published its decision when it asks;
a request that misses its deadline is cancelled and counted, and an invalid output is dropped
and counted, never published.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_llm_ros.decision.advisory_request import AdvisoryRequestError, parse_request
from edge_llm_ros.nodes import topics
from edge_llm_ros.nodes.convert import string_msg
from edge_llm_ros.runtime.lifecycle import CallbackReturn
from edge_llm_ros.runtime.managed_node import ManagedNode
from edge_llm_ros.runtime.params import ParameterSchema, ParameterSpec
from edge_llm_ros.transport.bus import MessageInfo


class LlmInferenceNode(ManagedNode):
    """Glue around `SceneAdvisor` (engine + batcher + schema validation)."""

    PARAMETERS = ParameterSchema.of(
        ParameterSpec("model", "str", "smollm2-135m-instruct", "Store model name (when model_dir is empty)"),
        ParameterSpec("model_dir", "str", "", "An ORT GenAI model folder (with genai_config.json)"),
        ParameterSpec("model_store", "str", "", "Model store directory ('' = default)"),
        ParameterSpec("execution_provider", "str", "cpu", choices=("cpu", "cuda", "dml")),
        ParameterSpec("intra_op_threads", "int", 1, min=1, max=64),
        ParameterSpec("guidance", "str", "auto", choices=("auto", "llguidance", "native", "off")),
        ParameterSpec("max_batch", "int", 4, min=1, max=64),
        ParameterSpec("max_queue_delay_s", "float", 0.05, min=0.0, max=5.0),
        ParameterSpec("deadline_s", "float", 3.0, "Cancel an advisory not done this long after its frame", min=0.1),
        ParameterSpec("max_new_tokens", "int", 96, min=8, max=2048),
        ParameterSpec("max_explanation_chars", "int", 120, min=20, max=200),
        ParameterSpec("stream_tokens", "bool", False, "Publish tokens as they are generated"),
        ParameterSpec("nice", "int", 10, "Niceness of the generation thread (yield to the fast path)", min=0, max=19),
    )

    def on_configure(self) -> CallbackReturn:
        from edge_llm_ros.llm.advisor import AdvisorConfig, SceneAdvisor
        from edge_llm_ros.llm.batcher import LlmBatcherConfig
        from edge_llm_ros.llm.engine import LlmConfigError

        p = self.params
        model_dir = Path(p["model_dir"]) if p["model_dir"] else self._from_store(p["model"], p["model_store"])
        if model_dir is None:
            return CallbackReturn.FAILURE
        config = AdvisorConfig(
            model_dir=model_dir,
            execution_provider=p["execution_provider"],
            intra_op_threads=p["intra_op_threads"],
            guidance=p["guidance"],
            max_explanation_chars=p["max_explanation_chars"],
            batcher=LlmBatcherConfig(
                max_batch=p["max_batch"],
                max_queue_delay_s=p["max_queue_delay_s"],
                deadline_s=p["deadline_s"],
                max_new_tokens=p["max_new_tokens"],
                nice=p["nice"],
            ),
        )
        try:
            self.advisor = SceneAdvisor(config)
        except LlmConfigError as exc:
            self.machine.last_error = f"LLM model {model_dir}: {exc}"
            self.log.error("configure failed: %s", self.machine.last_error)
            return CallbackReturn.FAILURE
        self.create_subscription(topics.LLM_REQUEST_TOPIC, topics.STRING, self._on_request, "pipeline")
        self.advisory_pub = self.create_publisher(topics.ADVISORY_TOPIC, topics.STRING, "decision")
        self.tokens_pub = (
            self.create_publisher(topics.ADVISORY_TOKENS_TOPIC, topics.STRING, "pipeline")
            if p["stream_tokens"]
            else None
        )
        self.published = 0
        return CallbackReturn.SUCCESS

    def _from_store(self, name: str, store_dir: str) -> Path | None:
        from edge_llm_ros.models.errors import ModelError
        from edge_llm_ros.models.store import ModelStore

        try:
            ref = (ModelStore(Path(store_dir)) if store_dir else ModelStore()).verify(name)
        except (ModelError, OSError) as exc:
            self.machine.last_error = f"LLM model {name!r} not usable from the store: {exc}"
            self.log.error("configure failed: %s", self.machine.last_error)
            return None
        return ref.directory

    def on_cleanup(self) -> CallbackReturn:
        self.advisor.close()
        return CallbackReturn.SUCCESS

    def on_shutdown(self) -> CallbackReturn:
        if hasattr(self, "advisor"):
            self.advisor.close()
        return CallbackReturn.SUCCESS

    def idle(self) -> bool:
        """No request queued or generating."""
        return not hasattr(self, "advisor") or self.advisor.batcher.pending() == 0

    def _on_request(self, msg: Any, _info: MessageInfo) -> None:
        from edge_llm_ros.llm.prompt import SceneObject, SceneSummary

        try:
            request = parse_request(msg.data)
            summary = SceneSummary(
                scene=str(request["scene"]),
                ego_speed_mps=request.get("ego_speed_mps"),
                objects=tuple(
                    SceneObject(int(o["object_id"]), str(o["label"]), o.get("range_m"), o.get("ttc_s"), o.get("lane"))
                    for o in request["objects"]
                ),
                stamp_ns=int(request["stamp_ns"]),
                actions=tuple(request.get("actions", ())),
            )
        except (AdvisoryRequestError, KeyError, TypeError, ValueError) as exc:
            self.counters["bad_input:llm_request"] += 1
            self.log.warning("dropped advisory request: %s", exc)
            return
        on_token = None
        if self.tokens_pub is not None:
            tokens_pub = self.tokens_pub

            def on_token(text: str) -> None:
                tokens_pub.publish(string_msg(self.codec, text))

        self.advisor.advise(summary, self._publish, self._dropped, on_token=on_token)

    def _publish(self, record: Any) -> None:
        self.advisory_pub.publish(string_msg(self.codec, record.to_json()))
        self.published += 1

    def _dropped(self, reason: str) -> None:
        self.counters[f"dropped:{reason}"] += 1

    def stats(self) -> dict[str, Any]:
        """Node counters plus the advisor's (served, cancelled_deadline, rejected_invalid, ...)."""
        merged: dict[str, Any] = super().stats()
        if hasattr(self, "advisor"):
            merged.update({f"llm:{k}": v for k, v in self.advisor.stats().items() if isinstance(v, int)})
        return merged
