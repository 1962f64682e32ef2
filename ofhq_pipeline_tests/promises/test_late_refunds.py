"""A refund of a purchase older than the incremental lookback still reaches `fan_profile`.

The API shows a refund only as the purchase's own status turning `refunded`, on the purchase's
date. Incremental syncs re-read 24 hours of transactions; once a day a sync re-reads 35 days
(`sync_mode = "deep"`), and that is where such a refund is seen.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import polars as pl
import pytest

from ofhq_pipeline.resources.sync_settings import SyncSettings
from ofhq_pipeline.settings import Paths
from ofhq_pipeline.sync import materialization_metadata, quiet_logging, step_failure, sync
from ofhq_pipeline_tests.conftest import point_at
from ofhq_pipeline_tests.promises.conftest import busiest_creators

# Whole syncs and daemons: the second CI step, `make test-slow` (see docs/testing.md).
pytestmark = pytest.mark.slow


def purchase_days_old(agency, creator_id: str, days: int) -> dict:
    """The creator's newest plain purchase made at least `days` before the end of history."""
    purchases = agency.transactions.filter(
        (pl.col("creator_id") == creator_id)
        & pl.col("status").is_in(["done", "succeeded", "completed"])
        & (pl.col("amount") > 0)
        & pl.col("chargeback_at").is_null()
        & (pl.col("created_at") <= agency.end - timedelta(days=days))
    )
    return purchases.sort("created_at").row(-1, named=True)


def fan_money(creator_id: str, fan_id: int) -> tuple[int, int]:
    """(lifetime_spend_cents, refund_count) of the fan, as analysts read them."""
    con = duckdb.connect(str(Paths.from_env().analysts_marts), read_only=True)
    try:
        return con.execute(
            "SELECT lifetime_spend_cents, refund_count FROM marts.fan_profile "
            "WHERE creator_id = ? AND fan_id = ?", [creator_id, fan_id]).fetchone()
    finally:
        con.close()


def sync_a_day_later(defs: dg.Definitions, instance, creator_id: str, as_of: str):
    """A sync of the creator once the last deep re-read is a day old (the launchpad's way of
    saying so: a deep re-read every 0 hours), as the periodic schedule's next one would be,
    then the marts run its sensor launches when it staged anything."""
    settings = {"as_of": as_of, "deep_reread_every_hours": 0}
    metadata = {}
    for job in ("creator_sync", "creator_marts"):
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, partition_key=creator_id, raise_on_error=False,
            run_config={**quiet_logging(), "resources": {"sync": {"config": settings}}})
        assert result.success, step_failure(result)
        metadata.update(materialization_metadata(result))
    return metadata


def test_a_refund_of_a_ten_day_old_purchase_reaches_fan_profile(
    monkeypatch, tmp_path, agency, api, instance
):
    [creator] = busiest_creators(agency, 1)
    purchase = purchase_days_old(agency, creator, days=10)
    cents = round(purchase["amount"] * 100)
    as_of = agency.end.isoformat()
    defs = point_at(monkeypatch, api.url, tmp_path / "home", as_of=as_of)
    assert [r.error for r in sync(defs, instance, creators=[creator])] == [None]
    spend, refunds = fan_money(creator, purchase["fan_id"])

    api.refund(purchase["id"])  # after the sync: only a re-read of his purchase can see it
    metadata = sync_a_day_later(defs, instance, creator, as_of)

    assert metadata["raw/transactions"]["sync_mode"] == "deep"
    assert fan_money(creator, purchase["fan_id"]) == (spend - cents, refunds + 1)


def test_a_deep_reread_is_due_once_every_deep_reread_every_hours():
    settings = SyncSettings()  # 35 days, every 24 hours
    now = datetime(2026, 11, 1, tzinfo=UTC)
    assert (settings.deep_reread_days, settings.deep_reread_every_hours) == (35, 24)
    assert settings.deep_reread_due(None, now)  # never read deep (nor whole) yet
    assert not settings.deep_reread_due(now - timedelta(hours=23), now)
    assert settings.deep_reread_due(now - timedelta(hours=24), now)
    assert not SyncSettings(deep_reread_days=0).deep_reread_due(None, now)  # switched off
