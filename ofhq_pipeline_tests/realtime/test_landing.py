"""The landing store on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from ofhq_pipeline.realtime.landing import LandingStore, landing_url_from_env, webhook_events


def land(store: LandingStore, key: str, event: str = "transactions.new", **extra) -> bool:
    """One delivery whose body is its own (bodies are unique keys too)."""
    return store.land(idempotency_key=key, event=event,
                      body=f'{{"event":"{event}","key":"{key}"}}', **extra)


def test_land_is_idempotent_and_keeps_every_field(store):
    occurred = datetime(2026, 10, 30, 23, 20, 11, tzinfo=timezone(timedelta(hours=2)))
    received = datetime(2026, 10, 31, 8, 0, 0, 123456, tzinfo=UTC)
    body = '{ "event": "tips.received", "payload": {"text": "café"} }'
    assert store.land(idempotency_key="evt_1", event="tips.received", body=body,
                      account_id="acct_8f2k", occurred_at=occurred, received_at=received)
    assert not store.land(idempotency_key="evt_1", event="tips.received", body="{}",
                          redelivery_of="dlv_9")
    [row] = store.events_after(0, 10)
    assert row.idempotency_key == "evt_1" and row.event == "tips.received" and row.known
    assert row.body == body and row.account_id == "acct_8f2k" and row.redelivery_of is None
    assert row.occurred_at == datetime(2026, 10, 30, 21, 20, 11, tzinfo=UTC)
    assert row.occurred_at.tzinfo is not None
    assert row.received_at == received


def test_events_after_pages_in_id_order_from_a_cursor(store):
    assert store.max_event_id() == 0 and store.events_after(0, 10) == []
    keys = [f"evt_{i}" for i in range(7)]
    for key in keys:
        land(store, key)
    land(store, "evt_3")  # a duplicate in the middle changes nothing
    first = store.events_after(0, 4)
    assert [e.idempotency_key for e in first] == keys[:4]
    rest = store.events_after(first[-1].id, 100)
    assert [e.idempotency_key for e in rest] == keys[4:]
    ids = [e.id for e in first + rest]
    assert ids == sorted(ids) and len(set(ids)) == 7
    assert store.max_event_id() == ids[-1]
    assert store.events_after(ids[-1], 10) == []


def test_counts_per_event_type_and_unknown(store):
    for i, event in enumerate(["transactions.new", "transactions.new", "tips.received",
                               "users.typing", "posts.liked", "users.typing"]):
        land(store, f"evt_{i}", event)
    store.quarantine(b"nope", "body is not JSON")
    counts = store.counts()
    assert counts.by_event == {"transactions.new": 2, "tips.received": 1, "users.typing": 2,
                               "posts.liked": 1}
    assert counts.unknown == 3 and counts.total == 6 and counts.quarantined == 1
    assert [e.known for e in store.events_after(0, 10)] == [True, True, True, False, False, False]


def test_quarantine_keeps_reason_and_body_and_identifies_any_bytes(store):
    store.quarantine(b'{"payload": {}}', "body has no string 'event'",
                     content_type="application/json")
    raw = b"\x00\xff not utf-8"
    store.quarantine(raw, "body is not UTF-8")
    binary, text = store.quarantined()
    assert text.reason == "body has no string 'event'" and text.body == '{"payload": {}}'
    assert text.content_type == "application/json" and text.content_length == 15
    assert binary.body == "\\x00\\xff not utf-8" and binary.content_length == len(raw)
    assert binary.body_sha256 == hashlib.sha256(raw).hexdigest()
    assert store.counts().total == 0


def test_claim_alert_once_even_under_concurrency(store):
    results: list[bool] = []

    def claim() -> None:
        results.append(store.claim_alert("whale:acct_8f2k:48213377", "whale", "acct_8f2k",
                                         48213377))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    store.set_alert_channel("whale:acct_8f2k:48213377", "telegram")
    store.release_alert("whale:acct_8f2k:48213377")
    assert store.claim_alert("whale:acct_8f2k:48213377", "whale", "acct_8f2k", 48213377,
                             channel="log")
    assert not store.claim_alert("whale:acct_8f2k:48213377", "whale", "acct_8f2k", 48213377)


class NotifyingLock:
    """A lock that wakes the threads waiting on `changed` each time it is released: swapped in for
    the store's queue lock, it tells a test when a delivery has joined the queue."""

    def __init__(self) -> None:
        self.changed = threading.Condition(threading.Lock())

    def __enter__(self) -> NotifyingLock:
        self.changed.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.changed.notify_all()
        self.changed.release()


def test_a_failing_delivery_does_not_fail_the_others_committed_with_it(store, monkeypatch):
    """Group commit: one bad row in a shared transaction is retried alone, the others land.

    The first writer holds the write lock until the five others have queued behind it, however
    long the machine takes to run them: the waits are on the queue itself, and their deadline
    only bounds a hang."""
    queue_lock = NotifyingLock()
    monkeypatch.setattr(store, "_queue_lock", queue_lock)
    first_is_writing = threading.Event()
    results: dict[str, object] = {}
    batch_sizes: list[int] = []
    real_batch = store._land_batch

    def first_writer_waits(batch):
        """The first writer holds the lock until the five others queued behind it."""
        batch_sizes.append(len(batch))
        if [p.values["idempotency_key"] for p in batch] == ["evt_0"]:
            first_is_writing.set()
            with queue_lock.changed:
                assert queue_lock.changed.wait_for(lambda: len(store._queue) == 5, timeout=60), (
                    f"hang: {len(store._queue)} of 5 deliveries queued after 60 s")
        return real_batch(batch)

    monkeypatch.setattr(store, "_land_batch", first_writer_waits)

    def worker(key: str, body: object) -> None:
        if key != "evt_0":
            assert first_is_writing.wait(timeout=60), "hang: the first writer never wrote"
        try:
            results[key] = store.land(idempotency_key=key, event="tips.received", body=body)
        except Exception as exc:  # the bad one
            results[key] = exc

    bad = None  # NOT NULL body: this row fails
    threads = [threading.Thread(target=worker, args=(f"evt_{i}", bad if i == 3 else f'{{"n":{i}}}'))
               for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert batch_sizes[:2] == [1, 5]  # the five shared one transaction, which failed
    assert isinstance(results.pop("evt_3"), sa.exc.IntegrityError)
    assert results == {f"evt_{i}": True for i in (0, 1, 2, 4, 5)}
    assert sorted(e.idempotency_key for e in store.events_after(0, 10)) == [
        "evt_0", "evt_1", "evt_2", "evt_4", "evt_5"]


def test_sqlite_runs_in_wal_with_full_sync(sqlite_store):
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_default_url_is_a_sqlite_file_under_ofhq_home(monkeypatch, tmp_path):
    monkeypatch.setenv("OFHQ_HOME", str(tmp_path / "home"))
    assert landing_url_from_env() == f"sqlite:///{tmp_path / 'home' / 'landing.db'}"
    with LandingStore() as store:
        land(store, "evt_1")
    assert (tmp_path / "home" / "landing.db").exists()
    monkeypatch.setenv("OFHQ_LANDING_URL", "sqlite:///elsewhere.db")
    assert landing_url_from_env() == "sqlite:///elsewhere.db"


def test_ids_survive_deletes_and_reopening(sqlite_url):
    """The cursor only grows: ids are never reused, not even after the newest row is deleted."""
    with LandingStore(sqlite_url) as store:
        land(store, "evt_1")
        land(store, "evt_2")
        with store.engine.begin() as conn:
            conn.execute(webhook_events.delete().where(webhook_events.c.idempotency_key == "evt_2"))
    with LandingStore(sqlite_url) as store:
        land(store, "evt_3")
        assert [e.id for e in store.events_after(0, 10)] == [1, 3]


@pytest.mark.postgres
def test_postgres_ids_commit_in_order(postgres_url):
    """A row committed later never has a smaller id than one a reader already saw."""
    stores = [LandingStore(postgres_url) for _ in range(4)]  # like 4 receiver processes
    seen: list[int] = []
    stop = threading.Event()
    missed: list[int] = []

    def writer(k: int) -> None:
        for i in range(60):
            land(stores[k], f"evt_{k}_{i}")

    def reader() -> None:
        cursor = 0
        while not stop.is_set():
            for event in stores[0].events_after(cursor, 1000):
                seen.append(event.id)
                cursor = event.id

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    reading = threading.Thread(target=reader)
    reading.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    reading.join()
    cursor = seen[-1] if seen else 0
    seen.extend(e.id for e in stores[0].events_after(cursor, 1000))
    all_ids = [e.id for e in stores[0].events_after(0, 1000)]
    missed = sorted(set(all_ids) - set(seen))
    for store in stores:
        store.close()
    assert len(all_ids) == 240
    assert missed == []


def test_the_body_digest_is_a_unique_key_of_its_own(store):
    body = '{"event":"transactions.new","payload":{"id":"tr_1"}}'
    assert store.land(idempotency_key="evt_1", event="transactions.new", body=body)
    assert not store.land(idempotency_key="evt_2", event="transactions.new", body=body)
    assert not store.land(idempotency_key="evt_3", event="transactions.new", body=body, stale=True)
    [row] = store.events_after(0, 10)
    assert row.body_sha256 == hashlib.sha256(body.encode()).hexdigest()
    # The receiver passes the digest of the bytes it received; the same digest is the same body.
    assert not store.land(idempotency_key="evt_4", event="tips.received", body="{}",
                          body_sha256=row.body_sha256)
    assert store.counts().total == 1


def test_stale_events_are_stored_but_never_read_as_events(store):
    land(store, "evt_fresh", account_id="acct_1")
    land(store, "evt_stale", account_id="acct_1", stale=True)
    land(store, "evt_stale_only", account_id="acct_2", stale=True)
    [fresh] = store.events_after(0, 10)
    assert fresh.idempotency_key == "evt_fresh" and not fresh.stale
    assert store.events_for("acct_1", 0) == [fresh] and store.events_for("acct_2", 0) == []
    assert store.creators_after(0) == ({"acct_1": fresh.id}, fresh.id)
    assert store.max_event_id() == fresh.id
    assert [e.idempotency_key for e in store.stale()] == ["evt_stale_only", "evt_stale"]
    counts = store.counts()
    assert (counts.total, counts.stale, counts.by_event) == (1, 2, {"transactions.new": 1})


def test_quarantine_keeps_each_body_once(store):
    assert store.quarantine(b"nope", "body is not JSON")
    assert not store.quarantine(b"nope", "body is not JSON")
    assert store.quarantine(b"nope!", "body is not JSON")
    assert store.counts().quarantined == 2
    # A reason or content type that no column could hold is stored escaped.
    assert store.quarantine(b"x", "bad \ud800 \x00 reason", content_type="text/\x00plain")
    kept = store.quarantined()[0]
    assert kept.reason == "bad \\ud800 \\x00 reason" and kept.content_type == "text/\\x00plain"


OLD_METADATA = sa.MetaData()
sa.Table(  # webhook_events as the first version created it
    "webhook_events", OLD_METADATA,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("account_id", sa.Text),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True)),
    sa.Column("known", sa.Boolean, nullable=False),
    sa.Column("redelivery_of", sa.Text),
    sa.Column("body", sa.Text, nullable=False),
    sqlite_autoincrement=True,
)
sa.Table(
    "webhook_quarantine", OLD_METADATA,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("content_type", sa.Text),
    sa.Column("content_length", sa.Integer, nullable=False),
    sa.Column("body_sha256", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)


def test_a_store_of_an_earlier_version_is_upgraded_in_place(landing_url, caplog):
    """Replays that landed before digests were kept stay (only the first copy gets the digest),
    and from then on the body is a unique key."""
    url = sa.make_url(landing_url)
    if url.get_backend_name() == "sqlite":
        Path(url.database).parent.mkdir(parents=True)
    engine = sa.create_engine(url)
    OLD_METADATA.create_all(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for key, body in (("evt_1", '{"n":1}'), ("evt_replayed", '{"n":1}'), ("evt_2", '{"n":2}')):
            conn.execute(OLD_METADATA.tables["webhook_events"].insert().values(
                idempotency_key=key, event="transactions.new", received_at=now, known=True,
                body=body))
        for _ in range(2):  # the same bad body twice
            conn.execute(OLD_METADATA.tables["webhook_quarantine"].insert().values(
                received_at=now, reason="body is not JSON", content_length=4,
                body_sha256=hashlib.sha256(b"nope").hexdigest(), body="nope"))
    engine.dispose()

    with LandingStore(landing_url) as store:
        events = store.events_after(0, 10)
        assert [(e.idempotency_key, e.body_sha256 is not None, e.stale) for e in events] == [
            ("evt_1", True, False), ("evt_replayed", False, False), ("evt_2", True, False)]
        assert not store.land(idempotency_key="evt_again", event="transactions.new",
                              body='{"n":2}')
        assert store.land(idempotency_key="evt_3", event="transactions.new", body='{"n":3}',
                          stale=True)
        assert store.counts().stale == 1
        assert store.quarantine(b"else", "body is not JSON")  # the quarantine still works
    assert "duplicates from an earlier version" in caplog.text

    with LandingStore(landing_url) as store:  # opening again changes nothing
        assert len(store.events_after(0, 10)) == 3
