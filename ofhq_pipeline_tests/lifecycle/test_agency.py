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
