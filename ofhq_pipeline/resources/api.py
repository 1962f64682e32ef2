"""The OnlyFans API as a Dagster resource; the key arrives through `EnvVar("OFAPI_API_KEY")`."""

from __future__ import annotations

import dagster as dg

from ofhq_pipeline.settings import DEFAULT_SIMULATOR_URL
from ofhq_pipeline.source.client import OfapiClient


class OfapiResource(dg.ConfigurableResource):
    """Base URL, bearer key and timeouts of the OnlyFans API (OFAPI_BASE_URL, OFAPI_API_KEY)."""

    base_url: str = DEFAULT_SIMULATOR_URL
    api_key: str | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    max_attempts: int = 6

    def client(self) -> OfapiClient:
        return OfapiClient(
            self.base_url,
            self.api_key,
            connect_timeout=self.connect_timeout_s,
            read_timeout=self.read_timeout_s,
            max_attempts=self.max_attempts,
        )
