"""staging.fans: one row per fan, whether the feed listed him, a subscription webhook sighted him,
or both; each field his latest known value by when it was observed (a webhook at its own
timestamp), a field a sighting does not carry left to the ones that do."""

from __future__ import annotations

from datetime import datetime

from ofhq_pipeline.lake import Lake
from ofhq_pipeline_tests.builders import CREATOR, day, fan, iso, make_lake, stage, staged_dicts


def webhook(lake: Lake, event: str, payload: dict, occurred_at: datetime, event_id: int) -> None:
    lake.write_raw_batch("webhook_events", CREATOR, [payload], fetched_at=[day(3)],
                         sync_mode="webhook",
                         extra={"event": [event], "event_id": [event_id],
                                "occurred_at": [occurred_at]})


def test_each_fan_once_with_his_latest_fields(tmp_path):
    lake = make_lake(tmp_path)
    lake.write_raw_batch("fans", CREATOR, [fan(1), fan(2), fan(4)], fetched_at=day(1),
                         sync_mode="test")
    # Fan 1 renews after the feed's read, at a new price and under a new username.
    webhook(lake, "subscriptions.renewed",
            {"user": {"id": 1, "username": "u1_renamed", "name": "Fan 1"},
             "subscribeAt": iso(day(2)), "expiredAt": iso(day(32)), "price": 4.99,
             "regularPrice": 9.99, "discount": 50}, day(2), 1)
    # Fan 2's expiry happened before the feed's read, which lists him active: the feed stands.
    webhook(lake, "subscriptions.expired", {"user": {"id": 2}, "expiredAt": iso(day(0.5))},
            day(0.5), 2)
    # Fan 3 subscribes after the feed's read: only the webhook knows him.
    webhook(lake, "subscriptions.new",
            {"user": {"id": 3, "username": "u3", "name": "Fan 3"},
             "subscribeAt": iso(day(2.5)), "expiredAt": iso(day(32.5)), "price": 9.99,
             "regularPrice": 9.99, "discount": 0}, day(2.5), 3)
    stage(lake)

    fans = staged_dicts(lake, "fans", order="fan_id")
    assert [f["fan_id"] for f in fans] == [1, 2, 3, 4]
    first, second, third, fourth = fans

    listed = fan(1)["subscribedOnData"]
    assert first["username"] == "u1_renamed"
    assert first["renewed_at"] == day(2)
    assert first["subscribe_price_cents"] == 499
    assert first["discount_percent"] == 50
    assert iso(first["subscribed_at"]) == listed["subscribeAt"]  # a renewal does not carry it
    assert first["last_fetched_at"] == day(1)

    assert second["subscription_status"] == "active"
    assert iso(second["subscription_expires_at"]) == fan(2)["subscribedOnData"]["expiredAt"]

    assert (third["username"], third["subscription_status"]) == ("u3", "active")
    assert third["subscribed_at"] == day(2.5)
    assert third["last_fetched_at"] is None  # never listed by the feed

    # A fan only the feed listed is his feed row.
    assert (fourth["username"], fourth["subscribe_price_cents"]) == ("u4", 999)
    assert fourth["renewed_at"] is None
