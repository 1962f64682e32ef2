"""The Postgres marts as a Dagster resource: OFHQ_MARTS_POSTGRES_URL stays an `EnvVar`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import dagster as dg

from ofhq_pipeline.warehouse.postgres_marts import PublishResult, publish_to_postgres


class MartsPostgresResource(dg.ConfigurableResource):
    """Where the marts are also published: a Postgres database (schema `ofhq_marts`), or
    nowhere when `url` is unset. `role_prefix` names the access roles (`ofhq` by default)."""

    url: str | None = None
    role_prefix: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def publish(
        self,
        current_marts: Mapping[str, Sequence[Path]],
        creator_id: str | None,
        *,
        system_stats: Mapping[str, int] | None = None,
        published_at: datetime | None = None,
    ) -> PublishResult | None:
        if not self.url:
            return None
        return publish_to_postgres(
            self.url,
            current_marts,
            creator_id,
            system_stats=system_stats,
            published_at=published_at,
            role_prefix=self.role_prefix,
        )
