"""fan_lifecycle_events: stage changes and milestones, appended once and never rewritten."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from ofhq_pipeline.lake import file_list, file_version, mart_files
from ofhq_pipeline.lifecycle import models as lifecycle_models
from ofhq_pipeline.lifecycle.models import log_path
from ofhq_pipeline_tests.builders import (
    CREATOR,
    day,
    fan,
    make_lake,
    parquet_dicts,
    profile,
    select_dicts,
    txn,
    write_sync,
)
from ofhq_pipeline_tests.lifecycle.harness import build


@pytest.fixture
def lake(tmp_path):
    return make_lake(tmp_path)


def events(path) -> list[dict]:
    """The events of a log kept at `path` (the creator's, or a run's mart): its file and the
    parts appended beside it."""
    return select_dicts(f"SELECT * FROM read_parquet({file_list(mart_files(path))})",
                        where="true", order="event_seq")


def stage_changes(rows, fan_id):
    return [(r["from_stage"], r["to_stage"], r["occurred_at"]) for r in rows
            if r["fan_id"] == fan_id and r["event_type"] == "stage_change"]


def milestones(rows, fan_id):
    return [(r["milestone"], r["occurred_at"]) for r in rows
            if r["fan_id"] == fan_id and r["event_type"] == "milestone"]


def test_re_evaluating_the_same_instant_appends_nothing(lake):
    write_sync(lake, fetched_at=day(0), fans=[fan(1), fan(2)],
               transactions=[txn("t1", 1, 60, day(3))])
    first = build(lake, day(10), run_id="a")
    assert (first.stage_changes, first.milestones) == (2, 3)  # first_purchase, bronze, silver
    before = events(log_path(lake, CREATOR))
    again = build(lake, day(10), run_id="b")
    assert again.appended == 0
    assert events(log_path(lake, CREATOR)) == before
    # Each run publishes the log as it stands.
    assert events(lake.mart_path("fan_lifecycle_events", CREATOR, "b")) == before


def test_stage_changes_are_appended_as_stages_decay(lake):
    write_sync(lake, fetched_at=day(0), fans=[fan(1)], transactions=[txn("t1", 1, 10, day(3))])
    build(lake, day(10), run_id="a")
    first = events(log_path(lake, CREATOR))
    build(lake, day(20), run_id="b")  # 17 days: cooling_off, without any new data
    build(lake, day(25), run_id="c")  # still cooling_off: nothing new
    rows = events(log_path(lake, CREATOR))
    assert rows[: len(first)] == first  # never rewritten
    assert [r["event_seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert [r["event_id"] for r in rows] == [f"{CREATOR}:{n}" for n in range(1, len(rows) + 1)]
    # His first stage is dated when he entered it (the purchase), a change by the evaluation.
    assert stage_changes(rows, 1) == [(None, "active_buyer", day(3)),
                                      ("active_buyer", "cooling_off", day(20))]
    change = rows[-1]
    assert change["reason"] == "last purchase 17.0 days ago (<= 30)"
    assert (change["recorded_at"], change["run_id"]) == (day(20), "b")
    assert (rows[0]["recorded_at"], rows[0]["run_id"]) == (day(10), "a")
    # stage_updated_at: when he entered his current stage, kept until it changes.
    assert profile(lake, "a")[1]["stage_updated_at"] == day(3)
    assert profile(lake, "b")[1]["stage_updated_at"] == day(20)
    assert profile(lake, "c")[1]["stage_updated_at"] == day(20)


def test_a_new_purchase_moves_the_fan_back_and_is_dated_when_seen(lake):
    write_sync(lake, fetched_at=day(0), fans=[fan(1)], transactions=[txn("t1", 1, 10, day(3))])
    build(lake, day(10), run_id="a")
    build(lake, day(50), run_id="b")  # at_risk
    write_sync(lake, fetched_at=day(60), fans=[fan(1)], transactions=[txn("t2", 1, 10, day(58))])
    build(lake, day(60), run_id="c")
    rows = events(log_path(lake, CREATOR))
    assert stage_changes(rows, 1) == [(None, "active_buyer", day(3)),
                                      ("active_buyer", "at_risk", day(50)),
                                      ("at_risk", "reactivated", day(60))]
    assert profile(lake, "c")[1]["stage_updated_at"] == day(60)


def test_milestones_first_purchase_and_spend_tiers(lake):
    write_sync(lake, fetched_at=day(0), fans=[fan(1), fan(2)], transactions=[
        txn("a1", 1, 30, day(1)), txn("a2", 1, 30, day(2)), txn("a3", 1, 150, day(3)),
        txn("b1", 2, 2000, day(4)),  # every tier at once
    ])
    build(lake, day(10))
    rows = events(log_path(lake, CREATOR))
    assert milestones(rows, 1) == [("first_purchase", day(1)), ("spend_tier:bronze", day(1)),
                                   ("spend_tier:silver", day(2)), ("spend_tier:gold", day(3))]
    assert sorted(milestones(rows, 2)) == sorted(
        [(m, day(4)) for m in ("first_purchase", "spend_tier:bronze", "spend_tier:silver",
                               "spend_tier:gold", "spend_tier:platinum")])
    reasons = {r["milestone"]: r["reason"] for r in rows if r["fan_id"] == 1}
    assert reasons["first_purchase"] == "first purchase: $30.00 message (a1)"
    assert reasons["spend_tier:silver"] == "lifetime spend reached $60.00 (>= $50.00) with a2"

    # A refund later moves the threshold crossings; a milestone reached stays recorded once.
    write_sync(lake, fetched_at=day(11), fans=[fan(1), fan(2)],
               transactions=[txn("a2", 1, 30, day(2), status="refunded")])
    assert build(lake, day(12), run_id="later").milestones == 0


def test_subscription_anniversaries_while_subscribed(lake):
    write_sync(lake, fetched_at=day(0), fans=[
        fan(1, subscribe_at=day(-800), expired_at=day(30)),                      # 2 years
        fan(2, status="expired", subscribe_at=day(-800), expired_at=day(-400)),  # left after 1
        fan(3, status="expired", subscribe_at=day(-800), expired_at=day(-500)),  # before the 1st
    ])
    build(lake, day(10))
    rows = events(log_path(lake, CREATOR))
    year = day(-800).replace(year=day(-800).year + 1)
    assert milestones(rows, 1) == [("sub_anniversary:1", year),
                                   ("sub_anniversary:2", year.replace(year=year.year + 1))]
    assert milestones(rows, 2) == [("sub_anniversary:1", year)]
    assert milestones(rows, 3) == []
    assert [r["reason"] for r in rows if r["milestone"] == "sub_anniversary:2"] == [
        f"2 years since subscribing on {day(-800):%Y-%m-%d}"]
    assert build(lake, day(10) + timedelta(hours=1), run_id="again").milestones == 0


def test_an_anniversary_counts_at_its_calendar_instant_whatever_the_year_length(lake):
    """February 29 plus a year is February 28 (365 days later); March 1, 2023 plus a year is
    March 1, 2024 (366 days later). Each anniversary is recorded at that instant, not a second
    before, though the second one's 365 days have passed a day earlier."""
    leap_day = datetime(2024, 2, 29, 12, tzinfo=UTC)
    a_year_before = datetime(2023, 3, 1, 12, tzinfo=UTC)
    write_sync(lake, fetched_at=leap_day + timedelta(minutes=30), fans=[
        fan(1, subscribe_at=leap_day, expired_at=leap_day + timedelta(days=800)),
        fan(2, subscribe_at=a_year_before, expired_at=leap_day + timedelta(days=800)),
    ])
    first_of_march = datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert build(lake, first_of_march - timedelta(seconds=1), run_id="a").milestones == 0
    assert build(lake, first_of_march, run_id="b").milestones == 1
    february_28 = datetime(2025, 2, 28, 12, tzinfo=UTC)
    assert build(lake, february_28 - timedelta(seconds=1), run_id="c").milestones == 0
    assert build(lake, february_28, run_id="d").milestones == 1
    rows = events(log_path(lake, CREATOR))
    assert milestones(rows, 1) == [("sub_anniversary:1", february_28)]
    assert milestones(rows, 2) == [("sub_anniversary:1", first_of_march)]


def test_new_data_at_the_same_instant_records_the_change_at_that_instant(lake):
    """An incremental sync may evaluate one as_of twice, with more history the second time."""
    write_sync(lake, fetched_at=day(0), fans=[fan(1, subscribe_at=day(-100))])
    build(lake, day(10), run_id="a")
    write_sync(lake, fetched_at=day(1), fans=[fan(1, subscribe_at=day(-100))],
               transactions=[txn("t1", 1, 10, day(9))])
    build(lake, day(10), run_id="b")
    rows = events(log_path(lake, CREATOR))
    # Subscribed 110 days before and never active: churned since 60 days after subscribing.
    assert stage_changes(rows, 1) == [(None, "churned", day(-40)),
                                      ("churned", "active_buyer", day(10))]
    assert profile(lake, "a")[1]["stage_updated_at"] == day(-40)
    assert profile(lake, "b")[1]["stage_updated_at"] == day(10)


def test_two_changes_at_one_instant_are_ordered_by_when_they_were_recorded(lake):
    """A purchase exactly at T dates the first stage at T; a refund seen at the same T moves the
    fan on at T too. The later-recorded one holds: evaluating T again appends nothing."""
    write_sync(lake, fetched_at=day(0), fans=[fan(1, subscribe_at=day(-100))],
               transactions=[txn("t1", 1, 10, day(10))])
    build(lake, day(10), run_id="a")
    write_sync(lake, fetched_at=day(1), fans=[fan(1, subscribe_at=day(-100))],
               transactions=[txn("t1", 1, 10, day(10), status="refunded")])
    build(lake, day(10), run_id="b")
    assert build(lake, day(10), run_id="c").stage_changes == 0
    rows = events(log_path(lake, CREATOR))
    assert stage_changes(rows, 1) == [(None, "active_buyer", day(10)),
                                      ("active_buyer", "churned", day(10))]
    assert (profile(lake, "c")[1]["stage"], profile(lake, "c")[1]["stage_updated_at"]) == (
        "churned", day(10))


def test_a_first_evaluation_dates_a_decayed_stage_at_its_boundary(lake):
    """A fan first evaluated long after his purchase entered at_risk 30 days after it; later
    evaluations keep that date until his stage changes."""
    write_sync(lake, fetched_at=day(0), fans=[fan(1, subscribe_at=day(-100), expired_at=day(200))],
               transactions=[txn("t1", 1, 10, day(3))])
    build(lake, day(50), run_id="a")
    build(lake, day(55), run_id="b")
    build(lake, day(70), run_id="c")
    rows = events(log_path(lake, CREATOR))
    assert stage_changes(rows, 1) == [(None, "at_risk", day(33)), ("at_risk", "churned", day(70))]
    assert [r["reason"] for r in rows if r["event_type"] == "stage_change"] == [
        "last purchase 47.0 days ago (<= 60)", "last purchase 67.0 days ago (> 60)"]
    assert [profile(lake, run)[1]["stage_updated_at"] for run in "abc"] == [
        day(33), day(33), day(70)]


def test_event_ids_are_unique_across_creators(lake):
    """Each creator numbers his own log; the creator in the id keeps ids apart in the table."""
    for creator in ("acct_a", "acct_b"):
        write_sync(lake, fetched_at=day(0), creator_id=creator, fans=[fan(1), fan(2)],
                   transactions=[txn("t1", 1, 60, day(3))])
        build(lake, day(10), creator_id=creator)
    a, b = (events(log_path(lake, creator)) for creator in ("acct_a", "acct_b"))
    assert [r["event_seq"] for r in a] == [r["event_seq"] for r in b] == [1, 2, 3, 4, 5]
    assert [r["event_id"] for r in a] == ["acct_a:1", "acct_a:2", "acct_a:3", "acct_a:4",
                                          "acct_a:5"]
    assert {r["event_id"] for r in a}.isdisjoint(r["event_id"] for r in b)


def test_a_log_numbered_per_creator_keeps_its_events_and_order(lake):
    """A log written when event_id was the creator's own count (1, 2, ...) is read and stored with
    that count as event_seq and the ids of today; nothing is appended twice."""
    write_sync(lake, fetched_at=day(0), fans=[fan(1)], transactions=[txn("t1", 1, 10, day(3))])
    build(lake, day(10), run_id="a")
    path = log_path(lake, CREATOR)
    current = events(path)
    old = path.with_name("old.parquet")
    con = duckdb.connect()
    con.execute(f"COPY (SELECT event_seq AS event_id, * EXCLUDE (event_id, event_seq) "
                f"FROM read_parquet('{path}')) TO '{old}' (FORMAT parquet)")
    con.close()
    old.replace(path)
    assert [r["event_id"] for r in parquet_dicts(path, order="event_id")] == [1, 2, 3]
    assert build(lake, day(10), run_id="b").appended == 0
    assert events(path) == current
    assert events(lake.mart_path("fan_lifecycle_events", CREATOR, "b")) == current


def decaying_fan(lake) -> None:
    """A fan whose stage decays as evaluations move on: each one below appends a stage change."""
    write_sync(lake, fetched_at=day(0), fans=[fan(1)], transactions=[txn("t1", 1, 10, day(3))])


def test_new_events_are_appended_beside_the_log_not_written_over_it(lake):
    decaying_fan(lake)
    build(lake, day(10), run_id="a")
    path = log_path(lake, CREATOR)
    first, version = events(path), file_version(path)
    built = build(lake, day(20), run_id="b")  # cooling_off: one stage change

    assert built.appended == 1
    assert file_version(path) == version  # the log's file as it was
    (part,) = mart_files(path)[1:]
    assert [r["event_seq"] for r in parquet_dicts(part)] == [len(first) + 1]
    rows = events(path)
    assert rows[: len(first)] == first and len(rows) == len(first) + 1
    # The run's mart is the log's file and its part, linked: the whole log.
    published = lake.mart_path("fan_lifecycle_events", CREATOR, "b")
    assert [os.path.samefile(a, b) for a, b in zip(mart_files(published), mart_files(path),
                                                    strict=True)] == [True, True]
    assert events(published) == rows
    assert built.total == len(rows)


def test_the_log_is_written_as_one_file_again_past_its_parts(lake, monkeypatch):
    monkeypatch.setattr(lifecycle_models, "MAX_LOG_PARTS", 2)
    decaying_fan(lake)
    build(lake, day(10), run_id="a")
    path = log_path(lake, CREATOR)
    for n, at in enumerate((day(20), day(40)), start=1):  # cooling_off, then at_risk
        build(lake, at, run_id=f"b{n}")
        assert len(mart_files(path)) == 1 + n
    before = events(path)
    build(lake, day(70), run_id="c")  # churned: a third part would be one too many

    assert mart_files(path) == [path]
    rows = events(path)
    assert rows[: len(before)] == before and len(rows) == len(before) + 1
    assert [r["event_seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert events(lake.mart_path("fan_lifecycle_events", CREATOR, "c")) == rows


def test_parts_a_fold_cut_short_left_are_not_read_twice(lake):
    """The log written whole, then the run stopped before removing its parts: the next
    evaluation removes them and reads each event once."""
    decaying_fan(lake)
    build(lake, day(10), run_id="a")
    build(lake, day(20), run_id="b")
    path = log_path(lake, CREATOR)
    held = events(path)
    with duckdb.connect() as con:  # the whole log into the file, the part left beside it
        con.execute(f"COPY (SELECT * FROM read_parquet({file_list(mart_files(path))})) "
                    f"TO '{path}.tmp' (FORMAT parquet)")
    os.replace(f"{path}.tmp", path)
    assert len(mart_files(path)) == 2

    build(lake, day(40), run_id="c")  # at_risk
    rows = events(path)
    assert rows[: len(held)] == held
    assert [r["event_seq"] for r in rows] == list(range(1, len(held) + 2))


def test_a_file_left_beside_the_log_stops_the_evaluation_named(lake):
    """An operator's copy of the log, named like a part of it, is not read as more events."""
    decaying_fan(lake)
    build(lake, day(10), run_id="a")
    path = log_path(lake, CREATOR)
    copy = path.with_name(f"{CREATOR}.backup.parquet")
    shutil.copyfile(path, copy)

    with pytest.raises(ValueError, match=r"backup\.parquet: not a part of the lifecycle log"):
        build(lake, day(20), run_id="b")
