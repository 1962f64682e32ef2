"""marts.fan_agency: one row per person across the agency's creators, from their fan_profiles;
a publish after one creator's run rolls up only the people his profiles name."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb

from ofhq_pipeline.lifecycle.agency import (
    AgencyRollup,
    fan_agency_path,
    sources_path,
    write_fan_agency,
)
from ofhq_pipeline.warehouse import publish as publishing
from ofhq_pipeline_tests.builders import day, fan, make_lake, txn, write_sync
from ofhq_pipeline_tests.lifecycle.harness import build

A, B = "acct_a", "acct_b"


def test_one_row_per_person_across_creators(tmp_path):
    lake = make_lake(tmp_path)
    assert write_fan_agency(lake) == AgencyRollup(0, None)
    assert not fan_agency_path(lake).exists()
    # Fan 7 follows both creators: $30 with A lately, $1,000 with B long ago; fan 8 only A.
    write_sync(lake, fetched_at=day(50), creator_id=A, fans=[fan(7), fan(8, status="expired")],
               transactions=[txn("a1", 7, 30, day(45))])
    write_sync(lake, fetched_at=day(50), creator_id=B, fans=[fan(7)],
               transactions=[txn("b1", 7, 600, day(1)), txn("b2", 7, 400, day(2))])
    for creator in (A, B):
        build(lake, day(50), creator_id=creator, run_id=f"run-{creator}")
        lake.commit_marts(creator, f"run-{creator}")

    assert write_fan_agency(lake).rows == 2
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


def agency_rows(lake) -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.execute(f"SELECT * FROM read_parquet('{fan_agency_path(lake)}') "
                           "ORDER BY fan_id").fetchall()
    finally:
        con.close()


def synced(lake, creator_id: str, run_id: str, as_of_day: int, **raw) -> None:
    write_sync(lake, fetched_at=day(as_of_day), creator_id=creator_id, **raw)
    build(lake, day(as_of_day), creator_id=creator_id, run_id=run_id)
    lake.commit_marts(creator_id, run_id)


def test_a_publish_rolls_up_only_the_people_of_the_profile_that_changed(tmp_path):
    """After A's new run, only the people of A's previous and new profile are rolled up again,
    and the rollup is the one a whole rollup gives, row for row."""
    lake = make_lake(tmp_path)
    synced(lake, A, "a1", 50, fans=[fan(7), fan(8)], transactions=[txn("a1", 7, 30, day(45))])
    synced(lake, B, "b1", 50, fans=[fan(7), fan(20), fan(21)],
           transactions=[txn("b1", 7, 600, day(1)), txn("b2", 21, 80, day(40))])
    assert write_fan_agency(lake) == AgencyRollup(rows=4, recomputed=None)  # no rollup yet
    assert write_fan_agency(lake) == AgencyRollup(rows=4, recomputed=0)  # nothing changed

    # A's next run: fan 7 buys again, fan 9 is new. B's fans 20 and 21 are nobody A changes.
    synced(lake, A, "a2", 60, fans=[fan(7), fan(8), fan(9)],
           transactions=[txn("a2", 7, 500, day(58))])
    before_b = [r for r in agency_rows(lake) if r[0] in (20, 21)]
    assert write_fan_agency(lake) == AgencyRollup(rows=5, recomputed=3)  # 7, 8 and 9
    incremental = agency_rows(lake)
    assert [r for r in incremental if r[0] in (20, 21)] == before_b
    con = duckdb.connect()
    spend = dict(con.execute(f"SELECT fan_id, lifetime_spend_cents "
                             f"FROM read_parquet('{fan_agency_path(lake)}')").fetchall())
    con.close()
    assert spend[7] == 113000  # $1,130 across both creators, A's new purchase included

    sources_path(lake).unlink()  # no record: the whole agency, which must agree
    assert write_fan_agency(lake) == AgencyRollup(rows=5, recomputed=None)
    assert agency_rows(lake) == incremental


def test_a_rollup_the_record_does_not_describe_is_made_whole_again(tmp_path):
    """Another file at the rollup's path (restored from a backup, edited by hand) is not taken
    for the recorded rollup: the next publish rolls the agency up whole."""
    lake = make_lake(tmp_path)
    synced(lake, A, "a1", 50, fans=[fan(7), fan(8)], transactions=[txn("a1", 7, 30, day(45))])
    write_fan_agency(lake)
    path = fan_agency_path(lake)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_parquet('{path}') WHERE fan_id <> 8) "
                f"TO '{path}.edited' (FORMAT parquet)")
    con.close()
    Path(f"{path}.edited").replace(path)
    synced(lake, A, "a2", 60, transactions=[txn("a2", 7, 10, day(58))])
    assert write_fan_agency(lake) == AgencyRollup(rows=2, recomputed=None)
    assert {r[0] for r in agency_rows(lake)} == {7, 8}


def published_agency(lake) -> list[tuple]:
    """marts.fan_agency as analysts read it in the published file."""
    con = duckdb.connect(str(lake.paths.analysts_marts), read_only=True)
    try:
        return con.execute("SELECT * FROM marts.fan_agency ORDER BY fan_id").fetchall()
    finally:
        con.close()


def built(lake, creator_id: str, run_id: str, as_of_day: int, **raw) -> None:
    write_sync(lake, fetched_at=day(as_of_day), creator_id=creator_id, **raw)
    build(lake, day(as_of_day), creator_id=creator_id, run_id=run_id)


def test_the_published_file_catches_up_by_the_people_rolled_up_again(tmp_path, monkeypatch):
    """A publish after A's run replaces, in the analysts' file, the fan_agency rows of A's people
    only; the file then holds the rollup, row for row."""
    lake = make_lake(tmp_path)
    replaced = []
    replace_people = publishing.replace_people
    monkeypatch.setattr(publishing, "replace_people",
                        lambda con, table, source, profiles: (replaced.append(profiles),
                                                              replace_people(con, table, source,
                                                                             profiles)))
    built(lake, A, "a1", 50, fans=[fan(7), fan(8)], transactions=[txn("a1", 7, 30, day(45))])
    publishing.publish(lake, A, "a1")
    built(lake, B, "b1", 50, fans=[fan(7), fan(20)], transactions=[txn("b1", 7, 600, day(1))])
    publishing.publish(lake, B, "b1")
    assert published_agency(lake) == agency_rows(lake)

    built(lake, A, "a2", 60, fans=[fan(9)], transactions=[txn("a2", 7, 500, day(58))])
    publishing.publish(lake, A, "a2")
    assert len(replaced[-1]) == 2  # A's previous profile and his new one
    assert {p.parent.name for p in replaced[-1]} == {"a1", "a2"}
    assert published_agency(lake) == agency_rows(lake)
    assert len(published_agency(lake)) == 4  # 7, 8, 9 and 20


def test_a_published_file_the_record_does_not_describe_gets_the_whole_rollup(tmp_path):
    """An analysts' file that is not the one recorded (restored, edited by hand) does not catch
    up by a delta it may not be behind by: its fan_agency is replaced whole."""
    lake = make_lake(tmp_path)
    built(lake, A, "a1", 50, fans=[fan(7), fan(8)], transactions=[txn("a1", 7, 30, day(45))])
    publishing.publish(lake, A, "a1")
    con = duckdb.connect(str(lake.paths.analysts_marts))
    con.execute("INSERT INTO marts.fan_agency (fan_id) VALUES (999)")  # a person nobody follows
    con.close()
    built(lake, A, "a2", 60, transactions=[txn("a2", 7, 10, day(58))])
    publishing.publish(lake, A, "a2")
    assert [r[0] for r in published_agency(lake)] == [7, 8]
    assert published_agency(lake) == agency_rows(lake)


def test_a_record_naming_files_outside_the_marts_is_not_followed(tmp_path):
    """A forged record (the rollup's true version, but a profile path leading out of the lake's
    marts) is not read from: the agency is rolled up whole, from the current profiles alone."""
    lake = make_lake(tmp_path / "lake")
    synced(lake, A, "a1", 50, fans=[fan(7), fan(8)], transactions=[txn("a1", 7, 30, day(45))])
    write_fan_agency(lake)
    elsewhere = tmp_path / "elsewhere" / "fan_profile.parquet"
    elsewhere.parent.mkdir()
    con = duckdb.connect()
    con.execute(f"COPY (SELECT 'acct_x' AS creator_id, 999 AS fan_id) TO '{elsewhere}' "
                "(FORMAT parquet)")
    con.close()
    record = json.loads(sources_path(lake).read_text())
    record["profiles"].append(os.path.relpath(elsewhere, lake.root))  # ../../elsewhere/...
    sources_path(lake).write_text(json.dumps(record))
    assert write_fan_agency(lake) == AgencyRollup(rows=2, recomputed=None)
    assert {r[0] for r in agency_rows(lake)} == {7, 8}
