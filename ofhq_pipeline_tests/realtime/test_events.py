"""Event types, a delivery's own timestamp, and the checks a delivery passes at the edge."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ofhq_pipeline.realtime.events import (
    KNOWN_EVENTS,
    InvalidDelivery,
    InvalidEvent,
    check_delivery,
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


# ---- checks at the edge -------------------------------------------------------------------------

FAN = {"id": 48213377, "username": "u48213377", "name": "Mark"}
# The contract's example of each known event type (source-api.md, examples/).
EXAMPLES = {
    "transactions.new": {
        "id": "tr_7Yq2", "amount": 25.0, "net_amount": 20.0, "fee_amount": 5.0, "vatAmount": 0,
        "currency": "USD", "type": "message", "status": "done",
        "created_at": "2026-10-30T21:20:11+00:00",
        "description": "Payment for message from <a href=\"https://onlyfans.com/u48213377\">Mark</a>",
        "fan": FAN},
    "tips.received": {
        "id": 88123001, "amountGross": 50.0, "amountNet": 40.0, "type": "tip",
        "createdAt": "2026-10-30T21:25:00+00:00", "text": "paid you a tip of $50.00", "user": FAN,
        "user_id": 3100442},
    "messages.ppv.unlocked": {
        "id": 88123002, "type": "paided_message", "createdAt": "2026-10-30T21:20:11+00:00",
        "text": "{USER_LINK} purchased your message for {AMOUNT}",
        "replacePairs": {"{AMOUNT}": "$25.00", "{MESSAGE_LINK}":
                         "https://onlyfans.com/my/chats/chat/48213377?firstId=90012"},
        "user": FAN, "user_id": 3100442},
    "subscriptions.new": {
        "user": FAN, "subscribeAt": "2026-10-31T08:00:00+00:00", "price": 4.99,
        "regularPrice": 9.99, "discount": 50, "expiredAt": "2026-11-30T08:00:00+00:00"},
    "subscriptions.renewed": {
        "user": FAN, "subscribeAt": "2026-10-31T08:00:00Z", "price": 9.99,
        "expiredAt": "2026-11-30T08:00:00Z"},
    "subscriptions.expired": {"user": FAN, "expiredAt": "2026-11-02T10:00:00+00:00"},
    "messages.received": {
        "id": 90013, "text": "do you do customs?", "price": 0, "isFree": True, "isTip": False,
        "mediaCount": 0, "media": [], "fromUser": FAN, "createdAt": "2026-10-30T21:31:40+00:00",
        "queueId": None},
    "messages.sent": {
        "id": 90014, "text": "sure", "price": 15, "isFree": False, "mediaCount": 1,
        "media": [{"id": 7001, "type": "photo"}], "fromUser": {"id": 3100442},
        "toUser": {"id": 48213377}, "createdAt": "2026-10-30T21:32:00+00:00", "queueId": 5},
    "accounts.connected": {"state": "connected"},
    "accounts.disconnected": {"state": "disconnected", "progress": None},
}


def delivery_text(event: str, payload, account_id="acct_8f2k") -> str:
    return json.dumps({"event": event, "account_id": account_id, "payload": payload})


def checked(text: str) -> None:
    check_delivery(parse_delivery(text.encode()))


def test_every_example_of_the_contract_passes_the_checks():
    assert set(EXAMPLES) == KNOWN_EVENTS
    for event, payload in EXAMPLES.items():
        checked(delivery_text(event, payload))
    checked(delivery_text("users.typing", {"anything": [1, "two", None, 3.5]}))  # unknown: raw
    checked(delivery_text("users.updated", {}, account_id=None))  # no creator: stored, counted


def replaced(event: str, raw: str, field: str = "amount") -> str:
    """The example of `event` with `field` set to the JSON text `raw` (NaN etc. stay literal)."""
    text = delivery_text(event, {**EXAMPLES[event], field: "__VALUE__"})
    return text.replace('"__VALUE__"', raw)


@pytest.mark.parametrize(("text", "reason"), [
    (replaced("transactions.new", "NaN"), "payload.amount: not a finite number ('NaN')"),
    (replaced("transactions.new", "-Infinity"), "payload.amount: not a finite number"),
    (replaced("transactions.new", "1e400"), "payload.amount: not a finite number ('1e400')"),
    (replaced("transactions.new", '"abc"'), "payload.amount: not a number ('abc')"),
    (replaced("transactions.new", "99999999999999999999"), "payload.amount: out of range"),
    (replaced("transactions.new", "1000000.01"), "payload.amount: out of range"),
    (replaced("transactions.new", "true"), "payload.amount: not a number (True)"),
    (replaced("transactions.new", "null"), "payload.amount: missing"),
    (replaced("transactions.new", "9" * 50, "vatAmount"), "payload.vatAmount: number out of range"),
    (replaced("transactions.new", '"yesterday"', "created_at"),
     "payload.created_at: not an ISO-8601 time ('yesterday')"),
    (replaced("transactions.new", '"20261030T212011"', "created_at"), "payload.created_at: not an"),
    (replaced("transactions.new", "1730323500", "created_at"), "payload.created_at: not an ISO"),
    (replaced("transactions.new", '{"id": 1e30}', "fan"),
     "payload.fan.id: not an integer id (1e+30)"),
    (replaced("transactions.new", '{"id": 9223372036854775808}', "fan"),
     "payload.fan.id: integer id out of 64-bit range"),
    (replaced("transactions.new", '{"id": "48213377"}', "fan"), "payload.fan.id: not an integer"),
    (replaced("transactions.new", '{"id": true}', "fan"), "payload.fan.id: not an integer id"),
    (replaced("messages.received", '{"id": 1e30}', "fromUser"), "payload.fromUser.id: not an"),
    (replaced("messages.received", "-1", "price"), "payload.price: out of range"),
    (replaced("messages.sent", '[{"id": "x"}]', "media"), "payload.media[0].id: not an integer"),
    (replaced("messages.sent", "null", "fromUser"), "payload.fromUser: missing"),
    (replaced("messages.sent", '"maybe"', "isFree"), "payload.isFree: not true or false"),
    (replaced("subscriptions.new", "150", "discount"), "payload.discount: not a percentage"),
    (replaced("subscriptions.new", '"2026-13-01"', "subscribeAt"), "payload.subscribeAt: not an"),
    (replaced("subscriptions.expired", "null", "expiredAt"), "payload.expiredAt: missing"),
    (replaced("tips.received", "NaN", "amountGross"), "payload.amountGross: not a finite number"),
    (replaced("messages.ppv.unlocked", '{"{AMOUNT}": 15}', "replacePairs"),
     'payload.replacePairs["{AMOUNT}"]: not a string (15)'),
    (delivery_text("transactions.new", {**EXAMPLES["transactions.new"], "fan": None}),
     "payload: needs user or fan"),
    (delivery_text("transactions.new", [1, 2]), "payload: not an object"),
    (delivery_text("transactions.new", None), "payload: missing"),
    (delivery_text("transactions.new", EXAMPLES["transactions.new"], account_id=None),
     "account_id: missing"),
    # What every delivery must satisfy, unknown types included.
    (delivery_text("transactions.new", EXAMPLES["transactions.new"], account_id="\ud800"),
     "account_id: not valid Unicode (lone surrogate)"),
    (delivery_text("users.typing", {}, account_id="acct\u0000x"), "account_id: contains NUL"),
    (delivery_text("users.typing", {}, account_id="../../etc"),
     "account_id: not an account id ('../../etc')"),
    (delivery_text("users.typing", {}, account_id="a" * 65), "account_id: not an account id"),
    (delivery_text("users.typing", {}, account_id=42), "account_id: not an account id (42)"),
    (delivery_text("users.typing", {"text": "hi\u0000there"}), "payload.text: contains NUL"),
    (delivery_text("users.typing", {"a": ["\udfff"]}), "payload.a[0]: not valid Unicode"),
    (delivery_text("users.typing", {"k\u0000": 1}), "payload: key 'k\\x00': contains NUL"),
    (delivery_text("users.typing", {"n": float("nan")}), "payload.n: not a finite number"),
    (delivery_text("users\u0000typing", {}), "event: contains NUL"),
    (delivery_text("users typing", {}), "event: not an event name ('users typing')"),
    ('{"event": "transactions.new", "account_id": "acct_8f2k", "payload": '
     '{"amount": "abc", "amount": 25}}', "payload: key 'amount' appears more than once"),
])
def test_checks_name_the_field_and_what_is_wrong(text, reason):
    with pytest.raises(InvalidEvent) as refused:
        checked(text)
    assert reason in str(refused.value)
    assert str(refused.value).isascii()  # reasons are logged and stored: never raw bytes
    assert refused.value.status == 422


def test_newest_time_decides_staleness_not_the_first():
    renewal = parse_delivery(delivery_text("subscriptions.renewed", {
        "user": FAN, "subscribeAt": "2026-01-01T00:00:00Z",
        "expiredAt": "2026-12-31T00:00:00Z"}).encode())
    assert renewal.occurred_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert renewal.newest_at == datetime(2026, 12, 31, tzinfo=UTC)
    assert parse_delivery(delivery_text("accounts.connected", {}).encode()).newest_at is None
    assert occurred_at({"createdAt": "0001-01-01T00:00:00+01:00"}) is None  # overflows: no time
