"""How a sync reads history and which instant its marts describe."""


from datetime import UTC, datetime, timedelta

import dagster as dg
from pydantic import Field

from ofhq_pipeline.settings import parse_instant

AS_OF_TAG = "ofhq/as_of"
FULL_HISTORY_TAG = "ofhq/full_history"


class SyncSettings(dg.ConfigurableResource):
    """OFHQ_AS_OF pins "now"; incremental syncs re-read `transaction_lookback_hours` of history,
    and once every `deep_reread_every_hours` the last `deep_reread_days` of transactions.

    The deep re-read is what lets a refund reach the marts: the API shows a refund only as the
    purchase's own status changing, on the purchase's date, which the lookback has long passed.
    """

    as_of: str | None = Field(
        default=None, description="the instant the marts describe (ISO 8601); unset: the run's "
        "`ofhq/as_of` tag, else its start")
    transaction_lookback_hours: int = Field(
        default=24, description="hours of transactions an incremental sync reads again before "
        "the newest one held")
    history_start: str = Field(
        default="2016-01-01T00:00:00+00:00",
        description="where a full sync starts reading transactions (ISO 8601)")
    deep_reread_days: int = Field(
        default=35,
        description="days of transactions a deep re-read reads again, before the newest one "
        "held (refunds of purchases that old reach the marts); 0: never re-read deep",
    )
    deep_reread_every_hours: int = Field(
        default=24,
        description="hours between two deep re-reads of a creator's transactions",
    )

    @property
    def lookback(self) -> timedelta:
        return timedelta(hours=self.transaction_lookback_hours)

    @property
    def deep_reread(self) -> timedelta:
        return timedelta(days=self.deep_reread_days)

    def deep_reread_due(self, last: datetime | None, now: datetime) -> bool:
        """Whether a sync at `now` re-reads deep, the last deep (or full) read being at `last`."""
        if self.deep_reread_days <= 0:
            return False
        return last is None or now - last >= timedelta(hours=self.deep_reread_every_hours)

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
