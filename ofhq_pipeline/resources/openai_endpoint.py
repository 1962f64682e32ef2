"""What every OpenAI-backed resource configures alike: endpoint, model, concurrency, retries, prices.

The classifier and the vault's vision tagger subclass it; each adds its own key description, per-run
limits and budget. `api_key` reaches them only as the Dagster `EnvVar` OPENAI_API_KEY: resolved at
run time, never logged and never written into metadata. Key and endpoint are locked: a run config
cannot set them (`resources/locked.py`).
"""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field

from ofhq_pipeline.llm.chat import DEFAULT_MODEL, LLMSettings
from ofhq_pipeline.llm.pricing import Price
from ofhq_pipeline.resources.locked import DeploymentLockedResource, env_or, locked_field


class OpenAIEndpointResource(DeploymentLockedResource):
    locked_fields = {"api_key": "OPENAI_API_KEY", "base_url": "OPENAI_BASE_URL"}
    model_env: ClassVar[str]  # the variable naming the subclass's model

    api_key: str | None = locked_field("OPENAI_API_KEY", "OpenAI API key", repr=False)
    base_url: str | None = locked_field(
        "OPENAI_BASE_URL", "any OpenAI-compatible endpoint; unset: the official API"
    )
    model: str = Field(default=DEFAULT_MODEL, description="the model asked")
    concurrency: int = Field(default=4, description="requests in flight at once")
    max_usd_per_run: float | None = Field(default=5.0, description="USD spent per run at most")
    max_retries: int = Field(default=3, description="client retries on 429, 5xx and timeouts")
    timeout: float = Field(default=60.0, description="seconds per request")
    input_usd_per_million: float | None = Field(
        default=None, description="price override for `model` (input); unset: the price table"
    )
    output_usd_per_million: float | None = Field(
        default=None, description="price override for `model` (output); unset: the price table"
    )

    @classmethod
    def from_env(cls) -> Self:
        """Configured from OPENAI_API_KEY, OPENAI_BASE_URL and the subclass's `model_env`."""
        return cls(
            api_key=env_or("OPENAI_API_KEY"),
            base_url=env_or("OPENAI_BASE_URL"),
            model=env_or(cls.model_env, DEFAULT_MODEL),
        )

    def requests_per_run(self) -> int | None:
        """How many items one run may send at most (the subclass's own limit)."""
        return None

    def llm_settings(self) -> LLMSettings | None:
        """The client's settings, or None without a key (then no request is ever made)."""
        api_key = self.deployment_value("api_key")
        if not api_key:
            return None
        prices = None
        if self.input_usd_per_million is not None and self.output_usd_per_million is not None:
            prices = {self.model: Price(self.input_usd_per_million, self.output_usd_per_million)}
        return LLMSettings(
            api_key=api_key,
            base_url=self.deployment_value("base_url"),
            model=self.model,
            concurrency=self.concurrency,
            max_classifications=self.requests_per_run(),
            max_usd=self.max_usd_per_run,
            max_retries=self.max_retries,
            timeout=self.timeout,
            prices=prices,
        )
