"""fan_lifecycle_events: stage changes and milestones, appended once and never rewritten."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ofhq_pipeline.lifecycle.models import log_path
from ofhq_pipeline_tests.builders import (
    CREATOR,
    day,
    fan,
    make_lake,
    parquet_dicts,
    profile,
    txn,
    write_sync,
)
from ofhq_pipeline_tests.lifecycle.harness import build


@pytest.fixture
def lake(tmp_path):
    return make_lake(tmp_path)


def events(path) -> list[dict]:
    return parquet_dicts(path, order="event_id")


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
    assert [r["event_id"] for r in rows] == list(range(1, len(rows) + 1))
    assert stage_changes(rows, 1) == [(None, "active_buyer", day(10)),
                                      ("active_buyer", "cooling_off", day(20))]
    change = rows[-1]
    assert change["reason"] == "last purchase 17.0 days ago (<= 30)"
    assert (change["recorded_at"], change["run_id"]) == (day(20), "b")
    # stage_updated_at: when the current stage was first recorded.
    assert profile(lake, "b")[1]["stage_updated_at"] == day(20)
    assert profile(lake, "c")[1]["stage_updated_at"] == day(20)
    assert profile(lake, "a")[1]["stage_updated_at"] == day(10)


def test_a_new_purchase_moves_the_fan_back_and_is_dated_when_seen(lake):
    write_sync(lake, fetched_at=day(0), fans=[fan(1)], transactions=[txn("t1", 1, 10, day(3))])
    build(lake, day(10), run_id="a")
    build(lake, day(50), run_id="b")  # at_risk
    write_sync(lake, fetched_at=day(60), fans=[fan(1)], transactions=[txn("t2", 1, 10, day(58))])
    build(lake, day(60), run_id="c")
    rows = events(log_path(lake, CREATOR))
    assert stage_changes(rows, 1) == [(None, "active_buyer", day(10)),
                                      ("active_buyer", "at_risk", day(50)),
                                      ("at_risk", "reactivated", day(60))]


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


def test_new_data_at_the_same_instant_records_the_change_at_that_instant(lake):
    """An incremental sync may evaluate one as_of twice, with more history the second time."""
    write_sync(lake, fetched_at=day(0), fans=[fan(1, subscribe_at=day(-100))])
    build(lake, day(10), run_id="a")
    write_sync(lake, fetched_at=day(1), fans=[fan(1, subscribe_at=day(-100))],
               transactions=[txn("t1", 1, 10, day(9))])
    build(lake, day(10), run_id="b")
    rows = events(log_path(lake, CREATOR))
    assert stage_changes(rows, 1) == [(None, "churned", day(10)),
                                      ("churned", "active_buyer", day(10))]
    assert profile(lake, "b")[1]["stage_updated_at"] == day(10)
