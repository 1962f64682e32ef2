"""The receiver over real HTTP (uvicorn on loopback) into real landing stores."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter

import httpx
import pytest
from click.testing import CliRunner

from ofhq_pipeline.realtime.commands import webhooks
from ofhq_pipeline.realtime.landing import LandingStore
from ofhq_pipeline.realtime.receiver import ReceiverConfigError, create_receiver_app, serve
from ofhq_pipeline.realtime.signature import sign
from ofhq_pipeline_tests.realtime.conftest import (
    CURRENT,
    PREVIOUS,
    RECENT,
    event_body,
    signed_headers,
)
from ofhq_pipeline_tests.realtime.wire import HANG_S, receiver_url

PATH = "/webhooks/ofapi"


@pytest.fixture
def receiver(sqlite_store):
    with receiver_url(create_receiver_app(sqlite_store, [CURRENT, PREVIOUS])) as url, \
            httpx.Client(base_url=url, timeout=HANG_S) as client:
        yield client


def post(client: httpx.Client, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return client.post(PATH, content=body, headers=headers)


def test_signed_delivery_is_stored_exactly_as_received(receiver, sqlite_store):
    body = b'{"event": "tips.received",  "account_id": "acct_8f2k", "payload": {"id": 88123001, ' \
           b'"createdAt": "' + RECENT.encode() + b'", "text": "caf\xc3\xa9"}}'
    response = post(receiver, body, signed_headers(body, key="evt_tip_1"))
    assert response.status_code == 200 and response.json() == {"status": "stored"}
    [event] = sqlite_store.events_after(0, 10)
    assert event.body.encode() == body
    assert (event.idempotency_key, event.event, event.account_id, event.known) == (
        "evt_tip_1", "tips.received", "acct_8f2k", True)
    assert event.occurred_at.isoformat() == RECENT
    assert event.body_sha256 == hashlib.sha256(body).hexdigest() and not event.stale


def test_previous_secret_is_accepted_during_rotation_and_others_are_not(receiver, sqlite_store):
    body = event_body(n=1)
    assert post(receiver, body, signed_headers(body, "evt_1", secret=PREVIOUS)).status_code == 200
    body = event_body(n=2)
    assert post(receiver, body, signed_headers(body, "evt_2", secret="whsec-unknown")
                ).status_code == 401
    assert [e.idempotency_key for e in sqlite_store.events_after(0, 10)] == ["evt_1"]


@pytest.mark.parametrize("headers", [
    {"Content-Type": "application/json"},  # unsigned
    {"Signature": ""},
    {"Signature": hashlib.sha256(event_body()).hexdigest()},  # a plain hash, not an HMAC
    {"Signature": "sha256=" + sign(event_body(), CURRENT)},  # prefixed
    {"Signature": sign(event_body(n=2), CURRENT)},  # another body's signature
])
def test_unsigned_and_forged_deliveries_are_refused_and_nothing_is_stored(
        receiver, sqlite_store, headers, caplog):
    caplog.set_level("DEBUG")
    response = post(receiver, event_body(), {**headers, "X-OFAPI-Idempotency-Key": "evt_forged"})
    assert response.status_code == 401
    counts = sqlite_store.counts()
    assert counts.total == 0 and counts.quarantined == 0
    assert "invalid signature" in caplog.text  # logged, without secrets or signatures
    for secret in (CURRENT, PREVIOUS, headers.get("Signature") or CURRENT):
        assert secret not in caplog.text


def test_forged_body_is_refused_even_when_it_is_not_json(receiver, sqlite_store):
    assert post(receiver, b"not json", {"Signature": "0" * 64}).status_code == 401
    assert sqlite_store.counts().quarantined == 0


def test_oversized_bodies_are_refused_with_413(sqlite_store):
    app = create_receiver_app(sqlite_store, [CURRENT], max_body_bytes=1000)
    with receiver_url(app) as url, httpx.Client(base_url=url, timeout=HANG_S) as client:
        padding = "x" * 1000
        body = event_body(text=padding)
        assert post(client, body, signed_headers(body, "evt_big")).status_code == 413

        def chunks():  # no Content-Length: counted while read
            yield body[:600]
            yield body[600:]

        response = client.post(PATH, content=chunks(), headers=signed_headers(body, "evt_big"))
        assert response.status_code == 413
        small = event_body(text="x" * 100)
        assert len(small) <= 1000
        assert post(client, small, signed_headers(small, "evt_small")).status_code == 200
    assert [e.idempotency_key for e in sqlite_store.events_after(0, 10)] == ["evt_small"]


def test_default_limit_is_one_mebibyte(receiver, sqlite_store):
    fits = event_body(text="x" * (1_048_576 - len(event_body(text=""))))
    assert len(fits) == 1_048_576
    assert post(receiver, fits, signed_headers(fits, "evt_fits")).status_code == 200
    over = fits.replace(b'"text":"', b'"text":"y', 1)
    assert post(receiver, over, signed_headers(over, "evt_over")).status_code == 413
    assert sqlite_store.counts().total == 1


@pytest.mark.parametrize(("body", "reason"), [
    (b"this is not json", "body is not JSON"),
    (b'{"account_id": "acct_8f2k", "payload": {}}', "body has no string 'event'"),
    (b'{"event": 42}', "body has no string 'event'"),
    (b'[{"event": "tips.received"}]', "not an object"),
])
def test_signed_bodies_that_are_not_events_are_quarantined_with_the_reason(
        receiver, sqlite_store, body, reason):
    response = post(receiver, body, signed_headers(body, "evt_bad"))
    assert response.status_code == 400 and reason in response.json()["error"]
    [kept] = sqlite_store.quarantined()
    assert reason in kept.reason and kept.body.encode() == body
    assert kept.content_type == "application/json" and kept.content_length == len(body)
    assert sqlite_store.counts().total == 0
    columns = " ".join(str(v) for v in vars(kept).values())
    assert sign(body, CURRENT) not in columns  # the signature is never kept


def test_duplicates_and_redeliveries_store_one_row(receiver, sqlite_store):
    body = event_body()
    first = post(receiver, body, signed_headers(body, "evt_7"))
    again = post(receiver, body, signed_headers(body, "evt_7"))
    replay = post(receiver, body, {**signed_headers(body, "evt_7"),
                                   "X-OFAPI-Redelivery-Of": "dlv_123"})
    assert [r.json()["status"] for r in (first, again, replay)] == ["stored", "duplicate",
                                                                    "duplicate"]
    assert all(r.status_code == 200 for r in (first, again, replay))
    [event] = sqlite_store.events_after(0, 10)
    assert event.redelivery_of is None


def test_a_redelivery_seen_first_records_what_it_replays(receiver, sqlite_store):
    body = event_body()
    headers = {**signed_headers(body, "evt_8"), "X-OFAPI-Redelivery-Of": "dlv_123"}
    assert post(receiver, body, headers).json() == {"status": "stored"}
    assert sqlite_store.events_after(0, 10)[0].redelivery_of == "dlv_123"


def test_without_idempotency_key_the_body_sha256_is_the_key(receiver, sqlite_store):
    typing = json.dumps({"event": "users.typing", "account_id": "acct_8f2k",
                         "payload": {"user": {"id": 1}}}).encode()
    other = typing.replace(b'"id": 1', b'"id": 2')
    statuses = [post(receiver, b, signed_headers(b)).json()["status"]
                for b in (typing, typing, other)]
    assert statuses == ["stored", "duplicate", "stored"]
    assert [e.idempotency_key for e in sqlite_store.events_after(0, 10)] == [
        "sha256:" + hashlib.sha256(typing).hexdigest(),
        "sha256:" + hashlib.sha256(other).hexdigest(),
    ]


def test_unknown_event_types_are_stored_and_counted(receiver, sqlite_store):
    for n, event in enumerate(["users.typing", "posts.new", "users.typing", "tips.received"]):
        body = event_body(event, n=n)
        assert post(receiver, body, signed_headers(body, f"evt_{n}")).status_code == 200
    counts = sqlite_store.counts()
    assert counts.unknown == 3 and counts.by_event["users.typing"] == 2
    assert counts.by_event["tips.received"] == 1


def test_healthz(receiver):
    response = receiver.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert receiver.get(PATH).status_code == 405


def test_an_unreachable_store_answers_503_so_the_api_delivers_again(tmp_path):
    store = LandingStore(f"sqlite:///{tmp_path / 'landing.db'}")
    with receiver_url(create_receiver_app(store, [CURRENT])) as url, \
            httpx.Client(base_url=url, timeout=HANG_S) as client:
        (tmp_path / "landing.db").unlink()
        store.engine.dispose()
        (tmp_path / "landing.db").mkdir()  # the file is now a directory: every connect fails
        body = event_body()
        assert post(client, body, signed_headers(body, "evt_1")).status_code == 503
        assert client.get("/healthz").status_code == 503


def test_insecure_mode_accepts_unsigned_deliveries_only_when_asked(sqlite_store):
    with receiver_url(create_receiver_app(sqlite_store, None, insecure=True)) as url:
        response = httpx.post(url + PATH, content=event_body())
    assert response.json() == {"status": "stored"}
    # Secrets given: signatures are checked even with insecure=True.
    with receiver_url(create_receiver_app(sqlite_store, [CURRENT], insecure=True)) as url:
        assert httpx.post(url + PATH, content=event_body(n=2)).status_code == 401


def test_refuses_to_start_without_a_secret(sqlite_store, tmp_path, monkeypatch):
    for secrets in (None, [], [""]):
        with pytest.raises(ReceiverConfigError, match="OFAPI_WEBHOOK_SECRET"):
            create_receiver_app(sqlite_store, secrets)
    monkeypatch.setenv("OFHQ_LANDING_URL", f"sqlite:///{tmp_path / 'never.db'}")
    with pytest.raises(ReceiverConfigError, match="--insecure"):
        serve("127.0.0.1", 0)
    assert not (tmp_path / "never.db").exists()  # refused before opening anything
    result = CliRunner().invoke(webhooks, ["serve", "--port", "0"])
    assert result.exit_code != 0 and "OFAPI_WEBHOOK_SECRET" in result.output


@pytest.mark.parametrize("landing", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_many_concurrent_deliveries_land_exactly_once(request, landing):
    """16 clients × 50 deliveries, 5 keys of which every client sends: exact rows, exact answers."""
    clients, per_client, shared = 16, 50, 5
    url = request.getfixturevalue(f"{landing}_url")
    statuses: list[tuple[str, int, str]] = []
    lock = threading.Lock()

    def client(k: int, base: str) -> None:
        with httpx.Client(base_url=base, timeout=HANG_S) as http:
            for i in range(per_client):
                key = f"evt_shared_{i}" if i < shared else f"evt_{k}_{i}"
                body = event_body(n=i if i < shared else k * 1000 + i)
                response = post(http, body, signed_headers(body, key))
                with lock:
                    statuses.append((key, response.status_code, response.json().get("status")))

    with LandingStore(url) as store, receiver_url(create_receiver_app(store, [CURRENT])) as base:
        threads = [threading.Thread(target=client, args=(k, base)) for k in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        landed = store.events_after(0, 10_000)
        counts = store.counts()
    expected_rows = clients * (per_client - shared) + shared
    assert len(statuses) == clients * per_client
    assert all(code == 200 for _, code, _ in statuses)
    stored = Counter(key for key, _, status in statuses if status == "stored")
    assert len(stored) == expected_rows and set(stored.values()) == {1}
    assert sum(status == "duplicate" for *_, status in statuses) == (clients - 1) * shared
    assert len(landed) == expected_rows == counts.total
    assert {e.idempotency_key for e in landed} == set(stored)
    ids = [e.id for e in landed]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
