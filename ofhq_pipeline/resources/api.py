"""The OnlyFans API as a Dagster resource; endpoint, key and request budget come from the
deployment only."""

from __future__ import annotations

import dagster as dg
import httpx
from pydantic import Field, field_validator

from ofhq_pipeline.resources.locked import DeploymentLockedResource, locked_field
from ofhq_pipeline.settings import DEFAULT_SIMULATOR_URL, Paths
from ofhq_pipeline.source.budget import ApiBudget, budget_path, require_rate
from ofhq_pipeline.source.client import OfapiClient

REQUESTS_PER_MINUTE_ENV = "OFAPI_REQUESTS_PER_MINUTE"
# The API's `_meta._rate_limits.limit_minute` in the source contract's example answers.
DEFAULT_REQUESTS_PER_MINUTE = 1_000


class OfapiResource(DeploymentLockedResource):
    """Base URL, bearer key and timeouts of the OnlyFans API (OFAPI_BASE_URL, OFAPI_API_KEY), and
    the requests per minute every client of the deployment shares (OFAPI_REQUESTS_PER_MINUTE)."""

    # The budget is locked too: a run allowed a higher rate than the others would spend their
    # share, and together they would run over the API's limit.
    locked_fields = {"base_url": "OFAPI_BASE_URL", "api_key": "OFAPI_API_KEY",
                     "requests_per_minute": REQUESTS_PER_MINUTE_ENV}

    base_url: str | None = locked_field(
        "OFAPI_BASE_URL", "the API's base URL; unset: the local simulator"
    )
    api_key: str | None = locked_field("OFAPI_API_KEY", "bearer key", repr=False)
    requests_per_minute: int | None = locked_field(
        REQUESTS_PER_MINUTE_ENV,
        "API requests per minute shared by every run and process of the deployment, retries "
        f"included; 0: no limit; unset: {DEFAULT_REQUESTS_PER_MINUTE:,}",
    )
    connect_timeout_s: float = Field(default=5.0, description="seconds to connect")
    read_timeout_s: float = Field(default=30.0, description="seconds to wait for an answer")
    max_attempts: int = Field(default=6, description="tries per request on 429, 5xx and timeouts")

    @field_validator("requests_per_minute", mode="before")
    @classmethod
    def _rate(cls, value: object) -> object:
        if value is None or isinstance(value, dg.EnvVar) or not isinstance(value, int | str):
            return value
        return require_rate(value, "requests_per_minute")

    def rate(self) -> int:
        """Requests per minute for the whole deployment; 0: no limit."""
        value = self.deployment_value("requests_per_minute", DEFAULT_REQUESTS_PER_MINUTE)
        return require_rate(value, REQUESTS_PER_MINUTE_ENV)

    def budget(self) -> ApiBudget:
        """The deployment's shared budget: one file under the lake, whichever process reads it."""
        return ApiBudget(budget_path(Paths.from_env().lake), self.rate(),
                         warn=dg.get_dagster_logger().warning)

    def client(self, *, wait_for_budget: bool = True, **overrides: float) -> OfapiClient:
        """A client of the deployment's API that takes a token of the budget before every
        request it sends, retries included; `overrides` replace the timeouts or attempts. With
        `wait_for_budget=False`, a request finding no token raises `BudgetExhausted`."""
        settings = {
            "connect_timeout": self.connect_timeout_s,
            "read_timeout": self.read_timeout_s,
            "max_attempts": self.max_attempts,
            **overrides,
        }
        client = OfapiClient(
            self.deployment_value("base_url", DEFAULT_SIMULATOR_URL),
            self.deployment_value("api_key"),
            **settings,
        )
        budget = self.budget()
        if budget.limited:
            # httpx calls request hooks before sending each request, so every attempt the
            # client makes (the first and each retry) waits for its own token.
            def take_token(request: httpx.Request) -> None:
                budget.take(wait=wait_for_budget)

            client.http.event_hooks["request"].append(take_token)
        return client
