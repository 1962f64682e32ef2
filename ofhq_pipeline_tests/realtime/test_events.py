"""Event types and a delivery's own timestamp."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ofhq_pipeline.realtime.events import (
    KNOWN_EVENTS,
    InvalidDelivery,
    is_known,
    occurred_at,
    parse_delivery,
)


def test_known_events_are_those_the_pipeline_acts_on():
    acted_on = {
        "transactions.new", "tips.received", "messages.ppv.unlocked", "subscriptions.new",
        "subscriptions.renewed", "subscriptions.expired", "messages.received", "messages.sent",
        "accounts.connected", "accounts.disconnected",
    }
    assert acted_on == KNOWN_EVENTS
    assert not is_known("users.typing")


@pytest.mark.parametrize(("payload", "expected"), [
    ({"createdAt": "2026-10-30T21:25:00+00:00"}, datetime(2026, 10, 30, 21, 25, tzinfo=UTC)),
    ({"created_at": "2026-10-30T23:20:11+02:00"}, datetime(2026, 10, 30, 21, 20, 11, tzinfo=UTC)),
    # a new subscription is dated by its start, not its expiry
    ({"subscribeAt": "2026-10-31T08:00:00Z", "expiredAt": "2026-11-30T08:00:00Z"},
     datetime(2026, 10, 31, 8, tzinfo=UTC)),
    ({"user": {"id": 1}, "expiredAt": "2026-11-02T10:00:00+00:00"},
     datetime(2026, 11, 2, 10, tzinfo=UTC)),
    ({"createdAt": "not a date", "expiredAt": "2026-11-02T10:00:00"},
     datetime(2026, 11, 2, 10, tzinfo=UTC)),
    ({"state": "disconnected"}, None),
    ({"createdAt": 1730323500}, None),
    (["createdAt"], None),
    (None, None),
])
def test_occurred_at_reads_the_payloads_own_timestamp(payload, expected):
    assert occurred_at(payload) == expected


def test_parse_delivery_keeps_the_body_text_exactly():
    text = '{ "event" : "tips.received", "account_id": "acct_8f2k",\n "payload": {"createdAt": ' \
           '"2026-10-30T21:25:00+00:00", "text": "café \\u00e9"} }'
    delivery = parse_delivery(text.encode())
    assert delivery.text == text
    assert delivery.event == "tips.received" and delivery.known
    assert delivery.account_id == "acct_8f2k"
    assert delivery.occurred_at == datetime(2026, 10, 30, 21, 25, tzinfo=UTC)


@pytest.mark.parametrize(("body", "reason"), [
    (b"not json", "not JSON"),
    (b"", "not JSON"),
    (b'["event"]', "not an object"),
    (b'{"payload": {}}', "no string 'event'"),
    (b'{"event": 7}', "no string 'event'"),
    (b'{"event": "  "}', "no string 'event'"),
    ('{"event": "tips.received"}'.encode("utf-16"), "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
def test_parse_delivery_names_what_is_wrong(body, reason):
    with pytest.raises(InvalidDelivery, match=reason):
        parse_delivery(body)


def test_unknown_events_parse():
    delivery = parse_delivery(json.dumps({"event": "users.typing", "payload": {}}).encode())
    assert delivery.event == "users.typing" and not delivery.known and delivery.account_id is None
