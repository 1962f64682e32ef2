"""`/healthz` tells a store that cannot write from one that works, and landing files are
owner-only."""

from __future__ import annotations

import os
import stat

import httpx
import pytest
import sqlalchemy as sa

from ofhq_pipeline.realtime.landing import LandingStore
from ofhq_pipeline.realtime.receiver import create_receiver_app
from ofhq_pipeline_tests.realtime.conftest import (
    CURRENT,
    POSTGRES_ADMIN_URL,
    event_body,
    signed_headers,
)
from ofhq_pipeline_tests.realtime.wire import HANG_S, receiver_url

PATH = "/webhooks/ofapi"


def health(store: LandingStore) -> httpx.Response:
    with receiver_url(create_receiver_app(store, [CURRENT])) as url:
        return httpx.get(url + "/healthz", timeout=HANG_S)


def test_a_writable_store_is_healthy_and_the_probe_stores_nothing(store):
    assert health(store).json() == {"status": "ok"}
    counts = store.counts()
    assert (counts.total, counts.stale, counts.quarantined) == (0, 0, 0)
    assert store.stale() == [] and store.max_event_id() == 0


def test_a_read_only_sqlite_store_is_unhealthy_with_the_reason(tmp_path):
    path = tmp_path / "landing" / "landing.db"
    with LandingStore(f"sqlite:///{path}") as writable:  # keeps the WAL files in place
        with LandingStore(f"sqlite:///file:{path}?mode=ro&uri=true") as read_only:
            read_only.ping()  # reachable...
            response = health(read_only)  # ...but cannot write
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "reason": "landing store is read-only"}
        assert health(writable).status_code == 200


@pytest.mark.postgres
def test_a_read_only_postgres_database_is_unhealthy_with_the_reason(postgres_url):
    """What a fail-over to a replica, or a database switched to read-only, looks like."""
    name = sa.make_url(postgres_url).database
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with LandingStore(postgres_url):  # tables exist before the switch
            pass
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        with LandingStore(postgres_url) as store:
            response = health(store)
            assert response.status_code == 503
            assert response.json()["reason"] == "landing store is read-only"
            with receiver_url(create_receiver_app(store, [CURRENT])) as url:
                body = event_body()
                assert httpx.post(url + PATH, content=body,
                                  headers=signed_headers(body, "evt_1")).status_code == 503
    finally:
        admin.dispose()


def test_an_unreachable_store_is_unhealthy_with_the_reason(tmp_path):
    store = LandingStore(f"sqlite:///{tmp_path / 'landing.db'}")
    (tmp_path / "landing.db").unlink()
    store.engine.dispose()
    (tmp_path / "landing.db").mkdir()  # the file is now a directory: every connect fails
    response = health(store)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reason": "landing store unreachable"}


def test_landing_files_are_owner_only_whatever_the_umask(tmp_path):
    folder = tmp_path / "home" / "landing"
    previous = os.umask(0)  # the permissions must not depend on the operator's umask
    try:
        with LandingStore(f"sqlite:///{folder / 'landing.db'}") as store:
            assert store.land(idempotency_key="evt_1", event="tips.received", body="{}")
            files = [folder / name for name in ("landing.db", "landing.db-wal", "landing.db-shm")]
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files if p.exists()}
    finally:
        os.umask(previous)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert modes == dict.fromkeys(["landing.db", "landing.db-wal", "landing.db-shm"], 0o600)
