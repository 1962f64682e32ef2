"""The fan classifier's configuration: the OpenAI endpoint, model, concurrency and per-run budget.

`api_key` reaches the resource only as the Dagster `EnvVar` OPENAI_API_KEY (see `from_env`): it is
resolved at run time, never logged and never written into metadata. Without a key the rules
classifier (`rules-v1`) runs instead, at no cost.
"""

from __future__ import annotations

from pydantic import Field

from ofhq_pipeline.intelligence.llm import LLMClassifier, classifier_for
from ofhq_pipeline.intelligence.rules import RulesClassifier
from ofhq_pipeline.intelligence.windows import WindowConfig
from ofhq_pipeline.resources.locked import locked_field
from ofhq_pipeline.resources.openai_endpoint import OpenAIEndpointResource


class OpenAIClassifierResource(OpenAIEndpointResource):
    """Which classifier runs, and what one run may spend."""

    model_env = "OFHQ_CLASSIFIER_MODEL"

    api_key: str | None = locked_field(
        "OPENAI_API_KEY", "OpenAI API key; unset: the rules classifier runs", repr=False
    )
    max_classifications_per_run: int | None = Field(
        default=10_000, description="fans sent per run at most; the rest stay pending"
    )
    max_usd_per_run: float | None = Field(
        default=5.0, description="USD spent per run at most; the rest stay pending"
    )
    token_budget: int = Field(default=12_000, description="estimated tokens per window")
    intent_threshold: int = Field(default=50, description="score from which a detection is an event")
    debounce_minutes: float = Field(
        default=10.0, description="real-time runs: a fan is classified at most once per interval"
    )
    max_failed_attempts: int = Field(
        default=2, description="failed classifications of one window before it waits for a change"
    )

    def requests_per_run(self) -> int | None:
        return self.max_classifications_per_run

    def classifier(self) -> LLMClassifier | RulesClassifier:
        return classifier_for(self.llm_settings())

    def window_config(self) -> WindowConfig:
        return WindowConfig(token_budget=self.token_budget)
