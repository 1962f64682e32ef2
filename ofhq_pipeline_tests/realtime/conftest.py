"""Landing stores on real databases: a SQLite file per test, a PostgreSQL database per test."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from ofhq_pipeline.realtime.landing import LandingStore
from ofhq_pipeline.realtime.signature import sign
from ofhq_pipeline_tests.conftest import postgres_available

POSTGRES_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
CURRENT = "whsec-current-7c1e-5a9b-3f20d8e1"
PREVIOUS = "whsec-previous-02ab-6c4d-9e17f3a0"
# A recent time of the event: deliveries older than the stale horizon (7 days) are not applied.
RECENT = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0).isoformat()


def require_postgres() -> None:
    """Skip without PostgreSQL, except under CI=true, where its absence is a failure."""
    if postgres_available():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 (CI=true: failing, not skipping)")
    pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database, dropped afterwards."""
    require_postgres()
    name = f"ofhq_landing_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'landing' / 'landing.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def landing_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def store(landing_url) -> Iterator[LandingStore]:
    with LandingStore(landing_url) as landing:
        yield landing


@pytest.fixture
def sqlite_store(sqlite_url) -> Iterator[LandingStore]:
    with LandingStore(sqlite_url) as landing:
        yield landing


def event_body(event: str = "transactions.new", n: int = 1, **payload) -> bytes:
    """A delivery's body as the API sends it (compact JSON)."""
    document = {
        "event": event,
        "account_id": "acct_8f2k",
        "payload": {"id": f"tr_{n}", "amount": 25.0, "created_at": RECENT,
                    "fan": {"id": 48213377, "username": "u48213377"}, **payload},
    }
    return json.dumps(document, separators=(",", ":")).encode()


def signed_headers(body: bytes, key: str | None = None, secret: str = CURRENT) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Signature": sign(body, secret)}
    if key is not None:
        headers["X-OFAPI-Idempotency-Key"] = key
    return headers
