"""marts.creator_revenue_daily counts each purchase on its UTC day, computed in integer
arithmetic (`utc_day`): it must agree with DuckDB's own calendar at every day's edges, as must
`utc_hour` (fan_engagement's busiest hours) at every hour's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ofhq_pipeline_tests.builders import CREATOR, build, make_lake, parquet_dicts, txn, write_sync


def differing_and_judged(tmp_path, query: str) -> tuple[int, int]:
    """A query in the pipeline's own session (UTC, its macros), counting (instants where a macro
    and DuckDB's calendar differ, instants judged)."""
    with make_lake(tmp_path).connect() as con:
        return con.execute(query).fetchone()


def test_utc_day_is_the_calendar_day_either_side_of_every_midnight_and_before_1970(tmp_path):
    # Each instant one microsecond either side of midnight, for days from 1900 to 2100.
    (differing, judged) = differing_and_judged(tmp_path, """
        SELECT count(*) FILTER (WHERE utc_day(t) <> CAST(t AS DATE)), count(*)
        FROM (SELECT TIMESTAMPTZ '1900-01-01 00:00:00+00' + to_days(CAST(d AS INTEGER))
                     + to_microseconds(CAST(e AS BIGINT)) AS t
              FROM range(0, 73000, 7) AS days(d), (VALUES (-1), (0), (1)) AS edge(e))
    """)
    assert judged > 30_000 and differing == 0


def test_utc_hour_is_the_calendar_hour_either_side_of_every_hour_and_before_1970(tmp_path):
    # Each instant one microsecond either side of the hour, every 7 hours from 1900 to 2100.
    (differing, judged) = differing_and_judged(tmp_path, """
        SELECT count(*) FILTER (WHERE utc_hour(t) <> hour(t)), count(*)
        FROM (SELECT TIMESTAMPTZ '1900-01-01 00:00:00+00' + to_hours(CAST(h AS BIGINT))
                     + to_microseconds(CAST(e AS BIGINT)) AS t
              FROM range(0, 1752000, 7) AS hours(h), (VALUES (-1), (0), (1)) AS edge(e))
    """)
    assert judged > 700_000 and differing == 0


def test_purchases_a_microsecond_apart_across_midnight_fall_on_their_own_days(tmp_path):
    lake = make_lake(tmp_path / "home")
    midnight = datetime(2026, 3, 1, tzinfo=UTC)
    write_sync(lake, fetched_at=midnight + timedelta(days=1), fans=[], transactions=[
        txn("before", 1, 10.0, midnight - timedelta(microseconds=1)),
        txn("at", 2, 20.0, midnight),
        txn("after", 2, 5.0, midnight + timedelta(hours=23, minutes=59, seconds=59)),
        # Not a purchase: its fan does not count as paying.
        txn("refunded", 3, 8.0, midnight + timedelta(hours=12), status="refunded"),
    ])
    build(lake, midnight + timedelta(days=1))
    days = {r["day"].isoformat(): (r["gross_cents"], r["paying_fans"]) for r in parquet_dicts(
        lake.mart_path("creator_revenue_daily", CREATOR, "run1"), order="day")}
    # Fan 2 bought twice on March 1st: one paying fan.
    assert days == {"2026-02-28": (1000, 1), "2026-03-01": (2500, 1)}
