"""The webhook landing store as a Dagster resource (OFHQ_LANDING_URL, SQLite by default)."""

from __future__ import annotations

from ofhq_pipeline.blasts.ledger import BlastLedger
from ofhq_pipeline.realtime.landing import LandingStore, landing_url_from_env
from ofhq_pipeline.resources.locked import DeploymentLockedResource, locked_field


class LandingResource(DeploymentLockedResource):
    """Where the receiver lands webhook events; the URL may carry a password, so it arrives as
    `EnvVar("OFHQ_LANDING_URL")`, is never logged, and no run config may set it."""

    locked_fields = {"url": "OFHQ_LANDING_URL"}

    url: str | None = locked_field(
        "OFHQ_LANDING_URL", "SQLAlchemy URL of the landing store; unset: SQLite under OFHQ_HOME",
        repr=False,
    )

    def store(self) -> LandingStore:
        return LandingStore(self.url or landing_url_from_env())

    def blast_ledger(self) -> BlastLedger:
        """The blasts' ledger, in the same database (ofhq_pipeline/blasts/ledger.py)."""
        return BlastLedger(self.url or landing_url_from_env())
