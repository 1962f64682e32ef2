"""The chatter settings as a Dagster resource: where shifts come from, KPI thresholds, QA sample
and budget. The LLM itself (key, endpoint, model, concurrency, retries, prices) is the
classifier's resource, `OpenAIClassifierResource`; the landing store is `LandingResource`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from ofhq_pipeline.chatters.models import KpiSettings
from ofhq_pipeline.chatters.qa import QASettings
from ofhq_pipeline.chatters.shifts import ENV_VAR, shifts_file_from_env
from ofhq_pipeline.resources.locked import DeploymentLockedResource, env_or, locked_field


class ChattersResource(DeploymentLockedResource):
    """Shift sources, KPI thresholds and the conversation-QA sample and budget."""

    locked_fields = {"shifts_file": ENV_VAR}

    shifts_file: str | None = locked_field(
        ENV_VAR,
        "YAML or CSV shift file; unset: $OFHQ_HOME/chatter_shifts.yaml (which may be absent)",
    )
    use_landing_shifts: bool = Field(
        default=True, description="also read the landing store's chatter_shifts table"
    )
    tip_window_minutes: int = Field(
        default=30, description="a tip this soon after a chatter's message to the fan is his"
    )
    wait_minutes: int = Field(
        default=60, description="a fan waiting longer than this for an answer was left waiting"
    )
    qa_sample_size: int = Field(default=3, description="conversations per chatter and day")
    qa_lookback_days: int = Field(default=7, description="completed UTC days sampled per run")
    qa_include_today: bool = Field(default=False, description="also sample as-of's own day")
    qa_at_risk_days: int = Field(
        default=30, description="a fan whose last purchase is older than this is at risk"
    )
    qa_max_messages: int = Field(default=60, description="latest messages kept per conversation")
    qa_max_reviews_per_run: int | None = Field(
        default=500, description="LLM reviews sent per run at most; the rest wait"
    )
    qa_max_usd_per_run: float | None = Field(
        default=1.0, description="USD spent on reviews per run at most; the rest wait"
    )
    qa_max_failed_attempts: int = Field(
        default=2, description="failed reviews of one conversation before it waits for a change"
    )

    @classmethod
    def from_env(cls) -> ChattersResource:
        return cls(shifts_file=env_or(ENV_VAR))

    def shift_file(self) -> tuple[Path, bool]:
        """The file and whether it must exist (named explicitly) or may be absent (default)."""
        if self.shifts_file:
            return Path(self.shifts_file).expanduser().resolve(), True
        return shifts_file_from_env()

    def kpi_settings(self) -> KpiSettings:
        return KpiSettings(tip_window_minutes=self.tip_window_minutes,
                           wait_minutes=self.wait_minutes)

    def qa_settings(self) -> QASettings:
        return QASettings(
            sample_size=self.qa_sample_size,
            lookback_days=self.qa_lookback_days,
            include_today=self.qa_include_today,
            at_risk_days=self.qa_at_risk_days,
            max_messages=self.qa_max_messages,
            max_reviews_per_run=self.qa_max_reviews_per_run,
            max_usd_per_run=self.qa_max_usd_per_run,
            max_failed_attempts=self.qa_max_failed_attempts,
        )
