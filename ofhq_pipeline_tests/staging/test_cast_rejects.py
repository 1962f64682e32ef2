"""Hostile and broken raw rows: each is set aside in staging.cast_rejects with the field and why,
the creator's other rows build with the right values, the rejects check warns without blocking,
and the next run still succeeds."""

from __future__ import annotations

import json
from collections import Counter

import dagster as dg
import pytest

from ofhq_pipeline.definitions import build_definitions
from ofhq_pipeline.defs.lifecycle.jobs import stage_decay_job
from ofhq_pipeline.lake import Lake
from ofhq_pipeline_tests.builders import (
    CREATOR,
    build,
    chargeback,
    chat,
    day,
    fan,
    make_lake,
    message,
    parquet_dicts,
    period,
    stage,
    txn,
    write_sync,
)
from ofhq_pipeline_tests.staging.hostile import land_webhooks, sale, with_raw

LONG = "9" * 5000

# Each bad webhook: (event, payload text, field, reason).
BAD_WEBHOOKS = [
    ("transactions.new", json.dumps(sale("w_abc", amount="abc")), "amount", "not a number"),
    ("transactions.new", json.dumps(sale("w_nan", amount=float("nan"))), "amount", "not finite"),
    ("transactions.new", with_raw(sale("w_1e400", amount="__amount__"), amount="1e400"),
     "amount", "not finite"),
    ("transactions.new", json.dumps(sale("w_inf", amount=float("inf"))), "amount", "not finite"),
    ("transactions.new", json.dumps(sale("w_big", amount=99999999999999999999)), "amount",
     "out of range"),
    ("transactions.new", json.dumps(sale("w_long", amount=LONG)), "amount", "not finite"),
    ("transactions.new", json.dumps(sale("w_fan", user={"id": 1e30})), "user.id",
     "not a whole number within 64 bits"),
    ("transactions.new", json.dumps(sale("w_when", createdAt="yesterday")), "createdAt",
     "not an instant"),
    ("subscriptions.new", json.dumps({"user": {"id": 5}, "subscribeAt": day(3).isoformat(),
                                      "price": "free"}), "price", "not a number"),
    ("messages.received", json.dumps(message(31, 1, day(3), from_fan=True)
                                     | {"fromUser": {"id": 1e30}}),
     "fromUser.id", "not a whole number within 64 bits"),
]
GOOD_WEBHOOKS = [
    ("transactions.new", json.dumps(sale("w_tip", 12.5, kind="tip"))),
    ("transactions.new", json.dumps(sale("w_ppv", 3.0))),
    ("subscriptions.new", json.dumps({"user": {"id": 6, "username": "u6"},
                                      "subscribeAt": day(3).isoformat(), "price": 4.99})),
]


def write_attack(lake: Lake) -> None:
    """A sync with a bad row in every raw feed table among good ones, then the webhooks."""
    nan_price = fan(4, subscribes=[period(day(1), float("nan"))])
    paid = txn("t1", 1, 5.0, day(1))
    write_sync(
        lake, fetched_at=day(5),
        fans=[fan(1), fan(2), {**fan(3), "lastSeen": "yesterday"}, nan_price],
        transactions=[paid, {**txn("t_bad", 2, 1.0, day(2)), "amount": "12,50"},
                      {**txn("t" * 5000, 2, 1.0, day(2)), "amount": "abc"}],
        chargebacks=[{**chargeback("cb_bad", paid, day(3)), "createdAt": "yesterday"}],
        chats=[chat(1, message(21, 1, day(2), from_fan=False)),
               {**chat(2, message(22, 2, day(2), from_fan=True)), "unreadMessagesCount": "lots"}],
        messages=[(1, message(11, 1, day(1), from_fan=True)),
                  (1, {**message(12, 1, day(1), from_fan=True), "createdAt": "soon"}),
                  (1, {**message(13, 1, day(1), from_fan=False, price=5),
                       "media": [{"id": 1.5, "type": "photo"}]})],
    )
    lake.write_raw_batch("vault_media", CREATOR,
                         [{"id": 7001, "type": "photo", "createdAt": day(1).isoformat()},
                          {"id": 1.5, "type": "photo", "createdAt": day(1).isoformat()}],
                         fetched_at=day(5), sync_mode="test")
    land_webhooks(lake, [(event, text) for event, text, *_ in BAD_WEBHOOKS] + GOOD_WEBHOOKS,
                  day(6))


# What staging.cast_rejects must say about the feed's bad rows: (table, id, field, reason).
BAD_FEED_ROWS = {
    ("fans", "3", "lastSeen", "not an instant"),
    ("fans", "4", "subscribedOnData.subscribes[1].price", "not finite"),
    ("transactions", "t_bad", "amount", "not a number"),
    ("transactions", "t" * 200, "amount", "not a number"),  # ids, too, cut to 200 characters
    ("chargebacks", "cb_bad", "createdAt", "not an instant"),
    ("chats", "2", "unreadMessagesCount", "not an integer within 32 bits"),
    ("messages", "12", "createdAt", "not an instant"),
    ("messages", "13", "media[1].id", "not a whole number within 64 bits"),
    ("vault_media", "1.5", "id", "not a whole number within 64 bits"),
}


def staged(lake: Lake, table: str, key: str) -> dict:
    return {row[key]: row for row in parquet_dicts(lake.staging_path(table, CREATOR))}


def assert_good_rows_staged(lake: Lake) -> None:
    transactions = staged(lake, "transactions", "transaction_id")
    assert {tid: (t["amount_cents"], t["type"], t["status"], t["chargeback_at"])
            for tid, t in transactions.items()} == {
        "t1": (500, "message", "succeeded", None),  # its chargeback's time did not cast
        "w_tip": (1250, "tip", "succeeded", None),
        "w_ppv": (300, "message", "succeeded", None),
    }
    assert set(staged(lake, "fans", "fan_id")) == {1, 2, 6}
    assert staged(lake, "fans", "fan_id")[6]["subscribe_price_cents"] == 499
    assert set(staged(lake, "chats", "fan_id")) == {1}
    assert set(staged(lake, "messages", "message_id")) == {11, 21}
    assert set(staged(lake, "vault_media", "media_id")) == {7001}
    periods = parquet_dicts(lake.staging_path("subscription_periods", CREATOR))
    assert [(p["fan_id"], p["price_cents"]) for p in periods] == [(6, 499)]


def assert_every_bad_row_rejected(lake: Lake) -> None:
    rejects = parquet_dicts(lake.staging_path("cast_rejects", CREATOR))
    feed = {(r["source_table"], r["source_id"], r["field"], r["reason"])
            for r in rejects if r["source_table"] != "webhook_events"}
    assert feed == BAD_FEED_ROWS
    webhooks = Counter((r["event"], r["field"], r["reason"])
                       for r in rejects if r["source_table"] == "webhook_events")
    assert webhooks == Counter((event, field, reason) for event, _, field, reason in BAD_WEBHOOKS)
    assert len(rejects) == len(BAD_FEED_ROWS) + len(BAD_WEBHOOKS)  # one bad value a row
    # The offending text as sent (numbers as the JSON spelled them), cut to 200 characters.
    assert sorted(r["value"] for r in rejects) == sorted([
        "abc", "NaN", "1e400", "Infinity", "99999999999999999999", "9" * 200, "1e+30",
        "yesterday", "free", "1e+30",  # the webhooks
        "yesterday", "NaN", "12,50", "abc", "yesterday", "lots", "soon", "1.5", "1.5",  # the feed
    ])
    # Where each came from: the batch and item, and for a webhook its landing id.
    assert all(r["batch_id"] and r["item_no"] is not None and r["seen_at"] for r in rejects)
    assert all(r["source_id"].isdigit() for r in rejects if r["source_table"] == "webhook_events")


def materialize(instance) -> dg.ExecuteInJobResult:
    defs = build_definitions()
    return dg.materialize(
        list(defs.assets), selection=stage_decay_job.selection,
        partition_key=CREATOR, instance=instance, resources=defs.resources, raise_on_error=False)


def rejects_warning(result) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations()
                     if e.check_name == "no_cast_rejects"]
    return evaluation


@pytest.fixture
def home(monkeypatch, tmp_path):
    monkeypatch.setenv("OFHQ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OFHQ_AS_OF", day(50).isoformat())
    return tmp_path / "home"


def test_bad_rows_are_set_aside_and_the_creator_still_builds(home, instance):
    lake = make_lake(home)
    write_attack(lake)
    instance.add_dynamic_partitions("creators", [CREATOR])

    first = materialize(instance)

    assert first.success, [e.message for e in first.all_events if e.is_failure]
    assert_good_rows_staged(lake)
    assert_every_bad_row_rejected(lake)
    checks = {(e.asset_key.to_user_string(), e.check_name): e.passed
              for e in first.get_asset_check_evaluations()}
    assert all(passed for (_, name), passed in checks.items() if name == "matches_schema")
    warning = rejects_warning(first)
    assert (warning.passed, warning.severity) == (False, dg.AssetCheckSeverity.WARN)
    metadata = {k: v.value for k, v in warning.metadata.items()}
    rows = len(BAD_FEED_ROWS) + len(BAD_WEBHOOKS)
    assert (metadata["creator"], metadata["rejected_rows"], metadata["rejected_values"]) == \
        (CREATOR, rows, rows)
    assert metadata["reasons"]["webhook_events transactions.new amount: not finite"] == 4
    assert len(metadata["sample"]) == 10
    assert {"marts/transactions", "marts/fan_profile"} <= {
        e.asset_key.to_user_string() for e in first.get_asset_materialization_events()}

    # The next webhooks arrive; the bad rows are still in raw, and the run still succeeds.
    land_webhooks(lake, [("transactions.new", json.dumps(sale("w_next", 8.0)))], day(7))
    second = materialize(instance)

    assert second.success, [e.message for e in second.all_events if e.is_failure]
    assert staged(lake, "transactions", "transaction_id")["w_next"]["amount_cents"] == 800
    assert rejects_warning(second).metadata["rejected_rows"].value == rows


def test_models_set_the_rows_aside_before_the_rejects_are_written(tmp_path):
    """A session whose staging.cast_rejects is not built yet reads it as its model over raw
    (what a creator's first run does): the bad rows are still left out."""
    lake = make_lake(tmp_path / "home")
    write_attack(lake)

    build(lake, day(50), skip=("staging/cast_rejects",))

    assert not lake.staging_path("cast_rejects", CREATOR).exists()
    assert_good_rows_staged(lake)
    profile = parquet_dicts(lake.mart_path("fan_profile", CREATOR, "run1"))
    assert {row["fan_id"]: row["lifetime_spend_cents"] for row in profile}[1] == 500 + 1250 + 300


ODD_PAYLOADS = {
    "null": ("null", {("id", "missing"), ("user.id", "missing"), ("createdAt", "missing"),
                      ("amount", "missing")}),
    "a list": ("[1, 2]", {("id", "missing"), ("user.id", "missing"), ("createdAt", "missing"),
                          ("amount", "missing")}),
    "an object for a number": (
        with_raw(sale("w_obj", amount="__amount__"), amount='{"value": 5}'),
        {("amount", "not a number")}),
    "a fan as a number": (json.dumps(sale("w_user", user=7)), {("user.id", "missing")}),
    "a negative infinity": (
        with_raw(sale("w_neg", net="__net__"), net="-Infinity"), {("net", "not finite")}),
    "a fractional fan": (json.dumps(sale("w_half", user={"id": 1.5})),
                         {("user.id", "not a whole number within 64 bits")}),
    "an infinite instant": (json.dumps(sale("w_inf_at", createdAt="infinity")),
                            {("createdAt", "not finite")}),
    "a spelling only a float reads": (json.dumps(sale("w_sign", amount="+-1")),
                                      {("amount", "not a number")}),
}


@pytest.mark.parametrize(("payload", "expected"), list(ODD_PAYLOADS.values()),
                         ids=list(ODD_PAYLOADS))
def test_odd_shapes_are_set_aside(tmp_path, payload, expected):
    lake = make_lake(tmp_path / "home")
    # A duplicated key counts once, as every model reads it: the first one.
    first_wins = with_raw(sale("w_dup", amount="__amount__"), amount='5, "amount": "abc"')
    land_webhooks(lake, [("transactions.new", payload), ("transactions.new", first_wins)], day(6))

    stage(lake)

    rejects = parquet_dicts(lake.staging_path("cast_rejects", CREATOR))
    assert {(r["field"], r["reason"]) for r in rejects} == expected
    assert {t: row["amount_cents"] for t, row in staged(lake, "transactions", "transaction_id")
            .items()} == {"w_dup": 500}


def test_a_payment_or_last_message_that_is_not_an_object_is_set_aside(tmp_path):
    """The payment inside a chargeback and a chat's last message are read as JSON text; one that
    is a string, a number, a list or absent leaves its row out, and the creator's other rows
    build."""
    lake = make_lake(tmp_path / "home")
    write_sync(lake, fetched_at=day(1), fans=[fan(1)], transactions=[txn("t1", 1, 5.0, day(1))])
    bad_chargebacks = [{"id": f"cb{n}", "createdAt": "2026-10-03T00:00:00+00:00",
                        **({} if payment is None else {"payment": payment})}
                       for n, payment in enumerate(["abc", 5, [1], None])]
    bad_chats = [{"fan": {"id": 1}, "lastMessage": last} for last in ("hey", 7, [1])]
    write_sync(lake, fetched_at=day(2), chargebacks=bad_chargebacks, chats=bad_chats)

    stage(lake)

    rejects = parquet_dicts(lake.staging_path("cast_rejects", CREATOR))
    assert {(r["source_id"], r["field"], r["reason"]) for r in rejects} == {
        (f"cb{n}", f"payment.{field}", "missing")
        for n in range(4) for field in ("id", "user.id", "createdAt", "amount")}
    assert {tid: t["status"] for tid, t in staged(lake, "transactions", "transaction_id")
            .items()} == {"t1": "succeeded"}
    assert staged(lake, "messages", "message_id") == {}
