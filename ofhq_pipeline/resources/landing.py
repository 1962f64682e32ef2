"""The webhook landing store as a Dagster resource (OFHQ_LANDING_URL, SQLite by default)."""

from __future__ import annotations

import dagster as dg

from ofhq_pipeline.realtime.landing import LandingStore, landing_url_from_env


class LandingResource(dg.ConfigurableResource):
    """Where the receiver lands webhook events; the URL may carry a password, so it arrives as
    `EnvVar("OFHQ_LANDING_URL")` and is never logged."""

    url: str | None = None

    def store(self) -> LandingStore:
        return LandingStore(self.url or landing_url_from_env())
