"""How a sync reads history and which instant its marts describe."""


from datetime import UTC, datetime, timedelta

import dagster as dg
from pydantic import Field

from ofhq_pipeline.settings import parse_instant
from ofhq_pipeline.staging.compaction import CompactionSettings

AS_OF_TAG = "ofhq/as_of"
FULL_HISTORY_TAG = "ofhq/full_history"
# A run that rebuilds the marts even when staging finds nothing new: what changed is the instant
# they describe (the daily stage decay).
REBUILD_MARTS_TAG = "ofhq/rebuild_marts"


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
    fans_whole_read_every_hours: int = Field(
        default=24,
        description="hours between two whole reads of a creator's fan list; 0: every sync "
        "reads it whole",
    )

    raw_compact_after_batches: int = Field(
        default=48, ge=1, description="a raw table's staged batches are folded into their "
        "month's file once this many have gathered")
    unchanged_feed_copies_days: int | None = Field(
        default=7, ge=0, description="days a whole-feed row (fans, chats, vault) listed "
        "unchanged is kept before compaction may drop it (the first and last sighting of each "
        "unchanged stretch always stay); unset: keep every copy")

    @property
    def raw_retention(self) -> CompactionSettings:
        return CompactionSettings(self.raw_compact_after_batches, self.unchanged_feed_copies_days)

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
    def rebuild_marts(context: dg.AssetExecutionContext) -> bool:
        return context.run.tags.get(REBUILD_MARTS_TAG, "false").lower() == "true"

    @staticmethod
    def full_history(context: dg.AssetExecutionContext) -> bool:
        return context.run.tags.get(FULL_HISTORY_TAG, "false").lower() == "true"
