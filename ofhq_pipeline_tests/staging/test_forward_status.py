"""A transaction's status only moves forward (source-api.md): pending → succeeded → refunded →
chargeback. Whatever order the sightings arrive in (feed batches, chargebacks, `transactions.new`
webhooks), the most advanced status stands, and a sighting that would move it back changes
nothing and is counted in `status_regressions`."""

from __future__ import annotations

from datetime import datetime
from itertools import permutations

import pytest

from ofhq_pipeline.lake import Lake
from ofhq_pipeline_tests.builders import (
    CREATOR,
    chargeback,
    day,
    make_lake,
    parquet_dicts,
    txn,
)

PAID = day(1)  # when the purchase was made; every sighting below arrives later


def land(lake: Lake, source: str, status: str, at: datetime, **fields) -> None:
    """One sighting of transaction tr_1 as its own raw batch, arriving at `at`."""
    payment = {**txn("tr_1", 7, 25.0, PAID, status=status), **fields}
    if source == "feed":
        lake.write_raw_batch("transactions", CREATOR, [payment], fetched_at=at, sync_mode="test")
    elif source == "webhook":
        lake.write_raw_batch(
            "webhook_events", CREATOR, [{**payment, "type": "message"}], fetched_at=[at],
            sync_mode="webhook",
            extra={"event": ["transactions.new"], "event_id": [int(at.timestamp())],
                   "occurred_at": [at]})
    else:  # a chargeback of the payment, made at `at`
        lake.write_raw_batch("chargebacks", CREATOR, [chargeback("cb_1", payment, at)],
                             fetched_at=at, sync_mode="test")


def staged(lake: Lake) -> dict:
    """staging.transactions' one row, built by the real models (rejects first, as the assets)."""
    for table in ("cast_rejects", "transactions"):
        with lake.session(CREATOR) as con:
            lake.write_model(con, f"staging/{table}", lake.staging_path(table, CREATOR))
    (row,) = parquet_dicts(lake.staging_path("transactions", CREATOR))
    return row


# (sightings in the order they arrive: source, API status), the staged status, the status before
# a chargeback, and how many sightings would have moved the status back.
ORDERINGS = {
    "refund, then the old done replayed": (
        [("feed", "done"), ("webhook", "refund"), ("webhook", "done")],
        "refunded", "refunded", 1),
    "done replayed twice after the refund": (
        [("webhook", "done"), ("feed", "refund"), ("webhook", "done"), ("webhook", "done")],
        "refunded", "refunded", 2),
    "chargeback, then a feed still saying done": (
        [("feed", "done"), ("chargeback", "done"), ("feed", "done")],
        "chargeback", "succeeded", 1),
    "chargeback, then the done webhook arriving late": (
        [("chargeback", "done"), ("webhook", "done")],
        "chargeback", "succeeded", 1),
    "pending after succeeded": (
        [("webhook", "done"), ("feed", "pending")],
        "succeeded", "succeeded", 1),
    "webhook refund before the feed catches up": (
        [("webhook", "refunded"), ("feed", "done")],
        "refunded", "refunded", 1),
    "feed done, then the webhook refund": (
        [("feed", "done"), ("webhook", "refunded")],
        "refunded", "refunded", 0),
    "every step in order": (
        [("webhook", "pending"), ("feed", "done"), ("webhook", "refund"), ("chargeback", "refund")],
        "chargeback", "refunded", 0),
    "a skipped step": (
        [("feed", "pending"), ("webhook", "refund")],
        "refunded", "refunded", 0),
    "the same status seen by every sync": (
        [("feed", "done"), ("feed", "done"), ("webhook", "completed"), ("feed", "done")],
        "succeeded", "succeeded", 0),
    "the feed's chargeback word, then done": (
        [("feed", "chargeback"), ("feed", "done")],
        "chargeback", "succeeded", 1),
    "a status word nobody knows after done": (
        [("feed", "done"), ("webhook", "on_hold")],
        "succeeded", "succeeded", 1),
    "only a word nobody knows": (
        [("feed", "on_hold")],
        "unknown", "unknown", 0),
}


@pytest.mark.parametrize(("sightings", "status", "before", "regressions"),
                         list(ORDERINGS.values()), ids=list(ORDERINGS))
def test_the_most_advanced_status_stands(tmp_path, sightings, status, before, regressions):
    lake = make_lake(tmp_path / "home")
    for n, (source, api_status) in enumerate(sightings):
        land(lake, source, api_status, day(2 + n))

    row = staged(lake)

    assert (row["status"], row["status_before_chargeback"], row["status_regressions"]) == \
        (status, before, regressions)
    assert row["is_purchase"] is (status == "succeeded")
    charged = any(source == "chargeback" for source, _ in sightings)
    assert (row["chargeback_at"] is not None) is charged


def test_in_any_order_of_arrival_the_status_is_the_same(tmp_path):
    """Every order of a done, a refund and a chargeback gives one status; only the count of
    sightings that would have moved it back depends on the order."""
    done, refund, charged = ("feed", "done"), ("webhook", "refund"), ("chargeback", "done")
    regressions = {}
    for n, order in enumerate(permutations([done, refund, charged])):
        lake = make_lake(tmp_path / f"home{n}")
        for k, (source, api_status) in enumerate(order):
            land(lake, source, api_status, day(2 + k))
        row = staged(lake)
        assert (row["status"], row["status_before_chargeback"]) == ("chargeback", "refunded")
        regressions[order] = row["status_regressions"]
    assert regressions == {
        (done, refund, charged): 0,
        (done, charged, refund): 1,
        (refund, done, charged): 1,
        (refund, charged, done): 1,
        (charged, done, refund): 2,
        (charged, refund, done): 2,
    }


def test_other_fields_come_from_the_latest_sighting(tmp_path):
    lake = make_lake(tmp_path / "home")
    land(lake, "feed", "refund", day(2), net=20.0)
    land(lake, "webhook", "done", day(3), net=19.5, description="Tip from <b>Fan 7</b>")

    row = staged(lake)

    assert (row["status"], row["status_regressions"]) == ("refunded", 1)
    assert (row["net_cents"], row["type"], row["description"]) == (1950, "message", "Tip from Fan 7")


def test_at_the_same_instant_the_feed_counts_as_the_later_sighting(tmp_path):
    lake = make_lake(tmp_path / "home")
    land(lake, "webhook", "refund", day(2), net=1.0)
    land(lake, "feed", "done", day(2), net=2.0)

    row = staged(lake)

    assert (row["status"], row["status_regressions"], row["net_cents"]) == ("refunded", 1, 200)


def test_the_mart_shows_the_status_before_a_later_chargeback(tmp_path):
    """As of a time between the refund and the chargeback, marts.transactions says refunded."""
    lake = make_lake(tmp_path / "home")
    land(lake, "feed", "done", day(2))
    land(lake, "webhook", "refund", day(3))
    land(lake, "chargeback", "done", day(6))
    land(lake, "webhook", "done", day(7))  # the old delivery, replayed
    staged(lake)

    statuses = {}
    for as_of in (day(4), day(8)):
        path = lake.mart_path("transactions", CREATOR, f"run-{as_of:%d}")
        with lake.session(CREATOR, as_of=as_of, run_id=f"run-{as_of:%d}") as con:
            lake.write_model(con, "marts/transactions", path)
        (row,) = parquet_dicts(path)
        statuses[as_of] = (row["status"], row["is_purchase"])
    assert statuses == {day(4): ("refunded", False), day(8): ("chargeback", False)}
