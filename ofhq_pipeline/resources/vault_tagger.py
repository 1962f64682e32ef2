"""The vault's vision tagger configuration: endpoint, model, concurrency and per-run budget.

`api_key` reaches the resource only as the Dagster `EnvVar` OPENAI_API_KEY (see `from_env`): it is
resolved at run time, never logged and never written into metadata. Without a key only the
metadata rules tagger (`vault-rules-v1`) runs, at no cost.
"""

from __future__ import annotations

from pydantic import Field

from ofhq_pipeline.llm.chat import DEFAULT_MODEL
from ofhq_pipeline.resources.locked import locked_field
from ofhq_pipeline.resources.openai_endpoint import OpenAIEndpointResource
from ofhq_pipeline.vault.vision import VisionTagger


class VaultTaggerResource(OpenAIEndpointResource):
    """Which vision model tags vault pictures, and what one run may spend on it."""

    model_env = "OFHQ_VAULT_TAGGER_MODEL"

    api_key: str | None = locked_field(
        "OPENAI_API_KEY", "OpenAI API key; unset: only the rules tagger runs", repr=False
    )
    model: str = Field(default=DEFAULT_MODEL, description="a model that accepts image input")
    detail: str = Field(default="low", description="image detail: low (cheapest), high or auto")
    max_images_per_run: int | None = Field(
        default=2_000, description="items sent per run at most; the rest wait for the next run"
    )
    max_usd_per_run: float | None = Field(
        default=2.0, description="USD spent per run at most; the rest wait for the next run"
    )
    max_failed_attempts: int = Field(
        default=2, description="failed taggings of one unchanged item before it is left alone"
    )

    def requests_per_run(self) -> int | None:
        return self.max_images_per_run

    def tagger(self) -> VisionTagger | None:
        settings = self.llm_settings()
        return VisionTagger(settings, detail=self.detail) if settings else None
