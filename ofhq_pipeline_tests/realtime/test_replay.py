"""Replays: a captured signed body sent again, under a fresh idempotency key or long after the
event, changes nothing the pipeline reads. Real receivers over HTTP, real SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ofhq_pipeline.realtime.landing import LandingStore
from ofhq_pipeline.realtime.receiver import (
    DEFAULT_STALE_AFTER,
    ReceiverConfigError,
    create_receiver_app,
    stale_after_from,
)
from ofhq_pipeline_tests.realtime.conftest import CURRENT, signed_headers
from ofhq_pipeline_tests.realtime.wire import HANG_S, receiver_url

PATH = "/webhooks/ofapi"


@pytest.fixture
def now() -> datetime:
    """The wall clock, read once when the test starts: the receiver judges staleness by its own
    clock, and every margin below (5 minutes against a 1-hour horizon at the least) outlasts
    any test that is not hung. Read per test, not at import, so a long session does not age it."""
    return datetime.now(UTC).replace(microsecond=0)


def body_of(event: str, payload: dict, account_id: str = "acct_8f2k") -> bytes:
    return json.dumps({"event": event, "account_id": account_id, "payload": payload},
                      separators=(",", ":")).encode()


def purchase(tx_id: str, at: datetime, dollars: float = 25.0) -> dict:
    return {"id": tx_id, "amount": dollars, "currency": "USD", "type": "message",
            "status": "done", "createdAt": at.isoformat(), "user": {"id": 48213377}}


@pytest.fixture
def client(store):
    with receiver_url(create_receiver_app(store, [CURRENT])) as url, \
            httpx.Client(base_url=url, timeout=HANG_S) as http:
        yield http


def post(client: httpx.Client, body: bytes, key: str | None) -> httpx.Response:
    return client.post(PATH, content=body, headers=signed_headers(body, key))


def test_a_replayed_body_under_a_fresh_key_is_a_duplicate(client, store, now):
    body = body_of("transactions.new", purchase("tr_replay", now - timedelta(minutes=5)))
    assert post(client, body, "evt_original").json() == {"status": "stored"}
    # The attacker holds the signed body and mints new idempotency keys (or drops the header).
    for key in ("evt_fresh_1", "evt_fresh_2", None):
        response = post(client, body, key)
        assert (response.status_code, response.json()) == (200, {"status": "duplicate"})
    [event] = store.events_after(0, 10)
    assert event.idempotency_key == "evt_original"
    assert store.counts().total == 1 and store.max_event_id() == event.id
    # A different body under the original key is still a redelivery of that key.
    other = body_of("transactions.new", purchase("tr_other", now))
    assert post(client, other, "evt_original").json() == {"status": "duplicate"}
    assert store.counts().total == 1


def test_an_old_event_lands_stale_and_is_never_applied(client, store, now):
    old = body_of("transactions.new", purchase("tr_old", now - timedelta(days=8), 990.0))
    response = post(client, old, "evt_old")
    assert (response.status_code, response.json()) == (200, {"status": "stale"})
    fresh = body_of("transactions.new", purchase("tr_new", now - timedelta(days=6)))
    assert post(client, fresh, "evt_new").json() == {"status": "stored"}

    # Every query that feeds the sensor, raw.webhook_events, staging and the alerts skips it.
    assert [e.idempotency_key for e in store.events_after(0, 10)] == ["evt_new"]
    assert [e.idempotency_key for e in store.events_for("acct_8f2k", 0)] == ["evt_new"]
    newest, last_id = store.creators_after(0)
    assert newest == {"acct_8f2k": last_id} and last_id == store.max_event_id()
    [kept] = store.stale()
    assert (kept.idempotency_key, kept.stale, kept.body.encode()) == ("evt_old", True, old)
    assert kept.id < last_id
    counts = store.counts()
    assert (counts.total, counts.stale, counts.by_event) == (1, 1, {"transactions.new": 1})

    # Replaying it again, under any key, changes nothing either.
    assert post(client, old, "evt_old_again").json() == {"status": "duplicate"}
    assert store.counts().stale == 1


def test_a_stale_only_creator_gets_no_run(client, store, now):
    old = body_of("subscriptions.expired", {"user": {"id": 7}, "expiredAt":
                                            (now - timedelta(days=30)).isoformat()}, "acct_gone")
    assert post(client, old, "evt_gone").json() == {"status": "stale"}
    assert store.creators_after(0) == ({}, 0)
    assert store.events_for("acct_gone", 0) == []


def test_staleness_is_judged_by_the_newest_time_of_the_payload(client, store, now):
    """A renewal of a subscription started long ago is news while its period runs."""
    renewal = body_of("subscriptions.renewed", {
        "user": {"id": 8}, "subscribeAt": (now - timedelta(days=60)).isoformat(),
        "expiredAt": (now + timedelta(days=30)).isoformat(), "price": 9.99})
    assert post(client, renewal, "evt_renewal").json() == {"status": "stored"}
    ended = body_of("subscriptions.renewed", {
        "user": {"id": 9}, "subscribeAt": (now - timedelta(days=90)).isoformat(),
        "expiredAt": (now - timedelta(days=60)).isoformat()})
    assert post(client, ended, "evt_ended").json() == {"status": "stale"}
    # No own time at all (account events): never stale.
    connected = body_of("accounts.connected", {"state": "connected"})
    assert post(client, connected, "evt_connected").json() == {"status": "stored"}


def test_the_horizon_is_configurable(sqlite_store, monkeypatch, now):
    app = create_receiver_app(sqlite_store, [CURRENT], stale_after=timedelta(hours=1))
    with receiver_url(app) as url, httpx.Client(base_url=url, timeout=HANG_S) as http:
        two_hours = body_of("transactions.new", purchase("tr_2h", now - timedelta(hours=2)))
        assert post(http, two_hours, "evt_2h").json() == {"status": "stale"}
        recent = body_of("transactions.new", purchase("tr_5m", now - timedelta(minutes=5)))
        assert post(http, recent, "evt_5m").json() == {"status": "stored"}

    assert stale_after_from() == DEFAULT_STALE_AFTER == timedelta(days=7)
    monkeypatch.setenv("OFHQ_WEBHOOK_STALE_AFTER_HOURS", "36")
    assert stale_after_from() == timedelta(hours=36)
    assert stale_after_from(2.5) == timedelta(hours=2.5)  # the option wins over the environment
    for bad in ("0", "-3", "soon", "nan"):
        monkeypatch.setenv("OFHQ_WEBHOOK_STALE_AFTER_HOURS", bad)
        with pytest.raises(ReceiverConfigError, match="OFHQ_WEBHOOK_STALE_AFTER_HOURS"):
            stale_after_from()
    with pytest.raises(ReceiverConfigError, match="--stale-after-hours"):
        stale_after_from(0)


def test_digests_are_durable_across_reopening(landing_url, now):
    """The replay guard is the store's unique key, not the receiver's memory."""
    body = body_of("transactions.new", purchase("tr_durable", now))
    with LandingStore(landing_url) as store, \
            receiver_url(create_receiver_app(store, [CURRENT])) as url:
        assert httpx.post(url + PATH, content=body, headers=signed_headers(body, "evt_a"),
                          timeout=HANG_S).json() == {"status": "stored"}
    with LandingStore(landing_url) as store, \
            receiver_url(create_receiver_app(store, [CURRENT])) as url:
        assert httpx.post(url + PATH, content=body, headers=signed_headers(body, "evt_b"),
                          timeout=HANG_S).json() == {"status": "duplicate"}
        assert store.counts().total == 1
