"""How a sync reads history and which instant its marts describe."""


from datetime import UTC, datetime, timedelta

import dagster as dg

from ofhq_pipeline.settings import parse_instant

AS_OF_TAG = "ofhq/as_of"
FULL_HISTORY_TAG = "ofhq/full_history"


class SyncSettings(dg.ConfigurableResource):
    """OFHQ_AS_OF pins "now"; incremental syncs re-read `transaction_lookback_hours` of history."""

    as_of: str | None = None
    transaction_lookback_hours: int = 24
    history_start: str = "2016-01-01T00:00:00+00:00"

    @property
    def lookback(self) -> timedelta:
        return timedelta(hours=self.transaction_lookback_hours)

    @property
    def history_start_at(self) -> datetime:
        return parse_instant(self.history_start)

    def resolve_as_of(self, context: dg.AssetExecutionContext) -> datetime:
        """The run's "now": OFHQ_AS_OF, else the run's `ofhq/as_of` tag, else its start time.

        Every asset of a run resolves the same instant, so a run's marts agree with each other.
        """
        if self.as_of:
            return parse_instant(self.as_of)
        tag = context.run.tags.get(AS_OF_TAG)
        if tag:
            return parse_instant(tag)
        stats = context.instance.get_run_stats(context.run_id)
        if stats.start_time:
            return datetime.fromtimestamp(stats.start_time, tz=UTC)
        return datetime.now(UTC)

    @staticmethod
    def full_history(context: dg.AssetExecutionContext) -> bool:
        return context.run.tags.get(FULL_HISTORY_TAG, "false").lower() == "true"
