"""The OnlyFans API as a Dagster resource; endpoint and key come from the deployment only."""

from __future__ import annotations

from pydantic import Field

from ofhq_pipeline.resources.locked import DeploymentLockedResource, locked_field
from ofhq_pipeline.settings import DEFAULT_SIMULATOR_URL
from ofhq_pipeline.source.client import OfapiClient


class OfapiResource(DeploymentLockedResource):
    """Base URL, bearer key and timeouts of the OnlyFans API (OFAPI_BASE_URL, OFAPI_API_KEY)."""

    locked_fields = {"base_url": "OFAPI_BASE_URL", "api_key": "OFAPI_API_KEY"}

    base_url: str | None = locked_field(
        "OFAPI_BASE_URL", "the API's base URL; unset: the local simulator"
    )
    api_key: str | None = locked_field("OFAPI_API_KEY", "bearer key", repr=False)
    connect_timeout_s: float = Field(default=5.0, description="seconds to connect")
    read_timeout_s: float = Field(default=30.0, description="seconds to wait for an answer")
    max_attempts: int = Field(default=6, description="tries per request on 429, 5xx and timeouts")

    def client(self, **overrides: float) -> OfapiClient:
        """A client of the deployment's API; `overrides` replace the timeouts or attempts."""
        settings = {
            "connect_timeout": self.connect_timeout_s,
            "read_timeout": self.read_timeout_s,
            "max_attempts": self.max_attempts,
            **overrides,
        }
        return OfapiClient(
            self.deployment_value("base_url", DEFAULT_SIMULATOR_URL),
            self.deployment_value("api_key"),
            **settings,
        )
