"""The fan classifier's configuration: the OpenAI endpoint, model, concurrency and per-run budget.

`api_key` reaches the resource only as the Dagster `EnvVar` OPENAI_API_KEY (see `from_env`): it is
resolved at run time, never logged and never written into metadata. Without a key the rules
classifier (`rules-v1`) runs instead, at no cost.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from ofhq_pipeline.intelligence.llm import DEFAULT_MODEL, LLMClassifier, LLMSettings
from ofhq_pipeline.intelligence.pricing import Price
from ofhq_pipeline.intelligence.rules import RulesClassifier
from ofhq_pipeline.intelligence.windows import WindowConfig
from ofhq_pipeline.settings import env_or


class OpenAIClassifierResource(dg.ConfigurableResource):
    """Which classifier runs, and what one run may spend."""

    api_key: str | None = Field(
        default=None, repr=False, description="OpenAI API key; unset: the rules classifier runs"
    )
    base_url: str | None = Field(
        default=None, description="any OpenAI-compatible endpoint; unset: the official API"
    )
    model: str = DEFAULT_MODEL
    concurrency: int = Field(default=4, description="requests in flight at once")
    max_classifications_per_run: int | None = Field(
        default=10_000, description="fans sent per run at most; the rest stay pending"
    )
    max_usd_per_run: float | None = Field(
        default=5.0, description="USD spent per run at most; the rest stay pending"
    )
    max_retries: int = Field(default=3, description="client retries on 429, 5xx and timeouts")
    timeout: float = Field(default=60.0, description="seconds per request")
    token_budget: int = Field(default=12_000, description="estimated tokens per window")
    intent_threshold: int = Field(default=50, description="score from which a detection is an event")
    debounce_minutes: float = Field(
        default=10.0, description="real-time runs: a fan is classified at most once per interval"
    )
    max_failed_attempts: int = Field(
        default=2, description="failed classifications of one window before it waits for a change"
    )
    input_usd_per_million: float | None = Field(
        default=None, description="price override for `model` (input); unset: the price table"
    )
    output_usd_per_million: float | None = Field(
        default=None, description="price override for `model` (output); unset: the price table"
    )

    @classmethod
    def from_env(cls) -> OpenAIClassifierResource:
        """Configured from OPENAI_API_KEY, OPENAI_BASE_URL and OFHQ_CLASSIFIER_MODEL."""
        return cls(
            api_key=env_or("OPENAI_API_KEY"),
            base_url=env_or("OPENAI_BASE_URL"),
            model=env_or("OFHQ_CLASSIFIER_MODEL", DEFAULT_MODEL),
        )

    def llm_settings(self) -> LLMSettings | None:
        if not self.api_key:
            return None
        prices = None
        if self.input_usd_per_million is not None and self.output_usd_per_million is not None:
            prices = {self.model: Price(self.input_usd_per_million, self.output_usd_per_million)}
        return LLMSettings(
            api_key=self.api_key,
            base_url=self.base_url,
            model=self.model,
            concurrency=self.concurrency,
            max_classifications=self.max_classifications_per_run,
            max_usd=self.max_usd_per_run,
            max_retries=self.max_retries,
            timeout=self.timeout,
            prices=prices,
        )

    def classifier(self) -> LLMClassifier | RulesClassifier:
        settings = self.llm_settings()
        return LLMClassifier(settings) if settings else RulesClassifier()

    def window_config(self) -> WindowConfig:
        return WindowConfig(token_budget=self.token_budget)
