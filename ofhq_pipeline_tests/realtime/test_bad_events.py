"""Bad events at a real receiver: refused at the edge with the field named, quarantined (never
lost, never a 503 loop), and the creator's good events keep landing and reading back."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import httpx
import pytest

from ofhq_pipeline.realtime.receiver import create_receiver_app
from ofhq_pipeline_tests.realtime.conftest import CURRENT, RECENT, signed_headers
from ofhq_pipeline_tests.realtime.wire import HANG_S, receiver_url

PATH = "/webhooks/ofapi"


def transaction(raw_amount: str = "25.0", created: str = f'"{RECENT}"', fan_id: str = "48213377",
                account: str = '"acct_8f2k"', tx_id: str = "tr_1") -> bytes:
    """A `transactions.new` body with its fields written as raw JSON text, as an attacker (or a
    broken sender) can write them: NaN, 1e400 and lone surrogates included."""
    return ('{"event":"transactions.new","account_id":' + account + ',"payload":{"id":"' + tx_id
            + '","amount":' + raw_amount + ',"createdAt":' + created + ',"user":{"id":' + fan_id
            + '}}}').encode()


BAD = [
    (transaction(raw_amount="NaN"), "payload.amount: not a finite number ('NaN')"),
    (transaction(raw_amount="1e400"), "payload.amount: not a finite number ('1e400')"),
    (transaction(raw_amount='"abc"'), "payload.amount: not a number ('abc')"),
    (transaction(raw_amount="99999999999999999999"),
     "payload.amount: out of range (99999999999999999999; -1,000,000 to 1,000,000 dollars)"),
    (transaction(fan_id="1e30"), "payload.user.id: not an integer id (1e+30)"),
    (transaction(created='"yesterday"'), "payload.createdAt: not an ISO-8601 time ('yesterday')"),
    (transaction(account='"\\ud800"'), "account_id: not valid Unicode (lone surrogate)"),
    (transaction(account='"acct\\u0000x"'), "account_id: contains NUL"),
    (transaction(account='"../../etc"'), "account_id: not an account id ('../../etc')"),
    (b'{"event":"users.typing","account_id":"\\ud800","payload":{}}',
     "account_id: not valid Unicode (lone surrogate)"),
    (b'{"event":"users.typing","account_id":"acct_8f2k","payload":{"t":"a\\u0000b"}}',
     "payload.t: contains NUL"),
]


@pytest.fixture
def client(store):
    with receiver_url(create_receiver_app(store, [CURRENT])) as url, \
            httpx.Client(base_url=url, timeout=HANG_S) as http:
        yield http


def post(client: httpx.Client, body: bytes, key: str | None = None) -> httpx.Response:
    return client.post(PATH, content=body, headers=signed_headers(body, key))


@pytest.mark.parametrize(("body", "reason"), BAD)
def test_a_bad_event_is_refused_with_the_field_named_and_quarantined(client, store, body, reason):
    response = post(client, body, "evt_bad")
    assert response.status_code == 422 and response.json()["error"].startswith(reason)
    # The API retries any non-2xx: a retry is answered the same and kept once, never a 503 loop.
    again = post(client, body, "evt_bad")
    assert (again.status_code, again.json()) == (422, response.json())
    [kept] = store.quarantined()
    assert kept.reason == response.json()["error"]
    assert kept.body_sha256 == hashlib.sha256(body).hexdigest()
    assert kept.body.encode() == body  # JSON escapes arrive as ASCII: stored exactly
    assert store.counts().total == 0 and store.counts().quarantined == 1

    # The creator goes on: its next good event lands and every landed event reads back.
    good = transaction(tx_id="tr_good")
    assert post(client, good, "evt_good").json() == {"status": "stored"}
    [event] = store.events_for("acct_8f2k", 0)
    payload = json.loads(event.body)["payload"]
    assert payload["amount"] == 25.0 and payload["user"]["id"] == 48213377


def test_every_known_event_type_is_checked_at_the_edge(client, store):
    cases = {
        "tips.received": ({"amountGross": float("inf"), "createdAt": RECENT},
                          "payload.amountGross: not a finite number"),
        "subscriptions.new": ({"user": {"id": 1}, "subscribeAt": RECENT, "price": -5},
                              "payload.price: out of range"),
        "subscriptions.expired": ({"user": {"id": 2}, "expiredAt": "last week"},
                                  "payload.expiredAt: not an ISO-8601 time"),
        "messages.received": ({"id": 3, "createdAt": RECENT, "fromUser": {"id": 1.5}},
                              "payload.fromUser.id: not an integer id (1.5)"),
        "messages.sent": ({"id": "m3", "createdAt": RECENT}, "payload.id: not an integer id"),
        "messages.ppv.unlocked": ({"createdAt": RECENT, "user": {"id": True}},
                                  "payload.user.id: not an integer id (True)"),
        "accounts.connected": ({"state": 1}, "payload.state: not a string (1)"),
    }
    for n, (event, (payload, reason)) in enumerate(cases.items()):
        body = json.dumps({"event": event, "account_id": "acct_8f2k", "payload": payload}).encode()
        response = post(client, body, f"evt_{n}")
        assert response.status_code == 422 and reason in response.json()["error"], event
    assert store.counts().quarantined == len(cases) and store.counts().total == 0


def test_quarantine_keeps_bodies_a_database_column_could_not(client, store):
    """Raw NUL and invalid UTF-8 (not JSON escapes): kept escaped, identified by digest."""
    for n, body in enumerate([b'{"event":"x","a":"\x00"}', b'{"event":"\xed\xa0\x80"}']):
        response = post(client, body, f"evt_raw_{n}")
        assert response.status_code == 400
    raw_utf8, raw_nul = store.quarantined()
    assert "\x00" not in raw_nul.body and "\\x00" in raw_nul.body
    assert raw_utf8.reason.startswith("body is not UTF-8")
    assert raw_utf8.body_sha256 == hashlib.sha256(b'{"event":"\xed\xa0\x80"}').hexdigest()


def test_a_bad_idempotency_header_is_quarantined_not_stored(client, store):
    body = transaction()
    response = client.post(PATH, content=body, headers={
        **signed_headers(body), "X-OFAPI-Idempotency-Key": "evt with spaces"})
    assert response.status_code == 422
    assert "x-ofapi-idempotency-key" in response.json()["error"]
    assert store.counts().total == 0 and store.counts().quarantined == 1


def test_unknown_event_types_are_still_stored_raw(client, store):
    body = json.dumps({"event": "posts.new", "account_id": "acct_8f2k",
                       "payload": {"anything": {"goes": [1, "x", None]}, "at": "whenever"},
                       "extra": datetime.now(UTC).isoformat()}).encode()
    assert post(client, body, "evt_unknown").json() == {"status": "stored"}
    assert store.counts().unknown == 1
