"""marts.fan_agency: one row per person across the agency's creators, from their fan_profiles."""

from __future__ import annotations

import duckdb

from ofhq_pipeline.lifecycle.agency import fan_agency_path, write_fan_agency
from ofhq_pipeline_tests.builders import day, fan, make_lake, txn, write_sync
from ofhq_pipeline_tests.lifecycle.harness import build

A, B = "acct_a", "acct_b"


def test_one_row_per_person_across_creators(tmp_path):
    lake = make_lake(tmp_path)
    assert write_fan_agency(lake) == 0 and not fan_agency_path(lake).exists()
    # Fan 7 follows both creators: $30 with A lately, $1,000 with B long ago; fan 8 only A.
    write_sync(lake, fetched_at=day(50), creator_id=A, fans=[fan(7), fan(8, status="expired")],
               transactions=[txn("a1", 7, 30, day(45))])
    write_sync(lake, fetched_at=day(50), creator_id=B, fans=[fan(7)],
               transactions=[txn("b1", 7, 600, day(1)), txn("b2", 7, 400, day(2))])
    for creator in (A, B):
        build(lake, day(50), creator_id=creator, run_id=f"run-{creator}")
        lake.commit_marts(creator, f"run-{creator}")

    assert write_fan_agency(lake) == 2
    con = duckdb.connect()
    rel = con.sql(f"SELECT * FROM read_parquet('{fan_agency_path(lake)}') ORDER BY fan_id")
    rows = {r[0]: dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()}
    con.close()
    seven = rows[7]
    assert (seven["creators_followed"], seven["active_subscriptions"], seven["creator_ids"]) == (
        2, 2, [A, B])
    assert (seven["lifetime_spend_cents"], seven["purchase_count"]) == (103000, 3)
    assert seven["spend_tier"] == "platinum" and seven["top_creator_id"] == B
    assert (seven["best_stage"], seven["best_stage_creator_id"]) == ("active_buyer", A)
    assert (seven["first_purchase_at"], seven["last_purchase_at"]) == (day(1), day(45))
    eight = rows[8]
    assert [eight[c] for c in ("creators_followed", "active_subscriptions", "lifetime_spend_cents",
                               "spend_tier", "top_creator_id")] == [1, 0, 0, "none", None]


def named(fan_id: int, username: str, **kwargs) -> dict:
    record = fan(fan_id, **kwargs)
    record["username"] = username
    return record


def test_username_comes_from_the_most_recently_active_profile_that_has_one(tmp_path):
    """A profile he was never active in ranks last, it does not drop out: a person with a
    username on some profile always gets one."""
    lake = make_lake(tmp_path)
    write_sync(lake, fetched_at=day(50), creator_id=A, fans=[
        named(7, "seven_a"), named(9, "nine_a"), named(11, "eleven_a")],
        transactions=[txn("a7", 7, 10, day(45)),
                      txn("a10", 10, 10, day(40)),  # no fan record with A: no username there
                      txn("a11", 11, 10, day(20))])
    write_sync(lake, fetched_at=day(50), creator_id=B, fans=[
        named(7, "seven_b"), named(9, "nine_b"), named(10, "ten_b"), named(11, "eleven_b")],
        transactions=[txn("b7", 7, 10, day(1)), txn("b11", 11, 10, day(30))])
    for creator in (A, B):
        build(lake, day(50), creator_id=creator, run_id=f"run-{creator}")
        lake.commit_marts(creator, f"run-{creator}")
    write_fan_agency(lake)
    con = duckdb.connect()
    names = dict(con.execute(
        f"SELECT fan_id, username FROM read_parquet('{fan_agency_path(lake)}')").fetchall())
    con.close()
    assert names == {
        7: "seven_a",   # active with A on day 45, with B on day 1
        9: "nine_a",    # never active with either: the smaller creator id
        10: "ten_b",    # active only where no username is known; never active with B
        11: "eleven_b",  # B (day 30) is more recent than A (day 20)
    }
