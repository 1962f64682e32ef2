"""The Postgres marts as a Dagster resource: OFHQ_MARTS_POSTGRES_URL stays an `EnvVar`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from ofhq_pipeline.resources.locked import DeploymentLockedResource, locked_field
from ofhq_pipeline.warehouse.postgres_marts import PublishResult, publish_to_postgres


class MartsPostgresResource(DeploymentLockedResource):
    """Where the marts are also published: a Postgres database (schema `ofhq_marts`), or
    nowhere when `url` is unset. `role_prefix` names the access roles (`ofhq` by default).
    Both are locked: a run pointed at another database or roles could hand the marts to anyone."""

    locked_fields = {"url": "OFHQ_MARTS_POSTGRES_URL", "role_prefix": "OFHQ_MARTS_ROLE_PREFIX"}

    url: str | None = locked_field(
        "OFHQ_MARTS_POSTGRES_URL", "Postgres URL of the marts; unset: not published", repr=False
    )
    role_prefix: str | None = locked_field(
        "OFHQ_MARTS_ROLE_PREFIX", "prefix of the access group roles; unset: ofhq"
    )

    @property
    def enabled(self) -> bool:
        return bool(self.deployment_value("url"))

    def publish(
        self,
        current_marts: Mapping[str, Sequence[Path]],
        creator_id: str | None,
        *,
        system_stats: Mapping[str, int] | None = None,
        published_at: datetime | None = None,
    ) -> PublishResult | None:
        url = self.deployment_value("url")
        if not url:
            return None
        return publish_to_postgres(
            url,
            current_marts,
            creator_id,
            system_stats=system_stats,
            published_at=published_at,
            role_prefix=self.deployment_value("role_prefix"),
        )
