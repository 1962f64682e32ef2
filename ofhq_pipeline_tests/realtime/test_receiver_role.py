"""The internet-facing receiver logs in to PostgreSQL as a role that may only add rows to the
landing tables: deliveries land through a real receiver, and the role can read, change or delete
nothing. Each test creates its own role (roles are cluster-wide) and drops it afterwards."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ofhq_pipeline.realtime.commands import webhooks
from ofhq_pipeline.realtime.landing import LandingStore
from ofhq_pipeline.realtime.receiver import create_receiver_app
from ofhq_pipeline_tests.realtime.conftest import CURRENT, event_body, signed_headers
from ofhq_pipeline_tests.realtime.wire import HANG_S, receiver_url

pytestmark = pytest.mark.postgres

PATH = "/webhooks/ofapi"


@pytest.fixture
def role(postgres_url) -> Iterator[str]:
    """A unique role name; whatever it was granted in the test database, and itself, are
    dropped afterwards."""
    name = f"ofhq_receiver_{uuid.uuid4().hex[:12]}"
    yield name
    with sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT").connect() as conn:
        if conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": name}).first():
            conn.execute(sa.text(f'DROP OWNED BY "{name}"'))
            conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"),
                {"r": name})
            conn.execute(sa.text(f'DROP ROLE "{name}"'))


def as_role(postgres_url: str, role: str) -> str:
    return sa.make_url(postgres_url).set(username=role).render_as_string(hide_password=False)


def test_grant_role_creates_a_role_that_can_only_insert(postgres_url, role, monkeypatch):
    monkeypatch.setenv("OFHQ_LANDING_URL", postgres_url)
    result = CliRunner().invoke(webhooks, ["grant-role", role])
    assert result.exit_code == 0, result.output
    assert f"CREATE ROLE {role} LOGIN;" in result.output
    assert "GRANT INSERT ON TABLE public.webhook_events, public.webhook_quarantine" in result.output

    with LandingStore(as_role(postgres_url, role)) as store, \
            receiver_url(create_receiver_app(store, [CURRENT])) as url, \
            httpx.Client(base_url=url, timeout=HANG_S) as http:
        assert http.get("/healthz").json() == {"status": "ok"}  # the write probe works as the role
        body = event_body(n=1)
        assert http.post(PATH, content=body, headers=signed_headers(body, "evt_1")
                         ).json() == {"status": "stored"}
        # Duplicates are told without reading anything back.
        assert http.post(PATH, content=body, headers=signed_headers(body, "evt_other")
                         ).json() == {"status": "duplicate"}
        assert http.post(PATH, content=body, headers=signed_headers(body, "evt_1")
                         ).json() == {"status": "duplicate"}
        stale = json.dumps({"event": "tips.received", "account_id": "acct_8f2k", "payload": {
            "createdAt": (datetime.now(UTC) - timedelta(days=30)).isoformat()}}).encode()
        assert http.post(PATH, content=stale, headers=signed_headers(stale, "evt_stale")
                         ).json() == {"status": "stale"}
        bad = event_body(n=2).replace(b'"amount":25.0', b'"amount":NaN')
        response = http.post(PATH, content=bad, headers=signed_headers(bad, "evt_bad"))
        assert response.status_code == 422  # quarantined as the role
        assert http.post(PATH, content=bad, headers=signed_headers(bad, "evt_bad")
                         ).status_code == 422

        # The role reads, changes and deletes nothing, in any landing table.
        with store.engine.connect() as conn:
            for statement in (
                "SELECT body FROM webhook_events",
                "SELECT count(*) FROM webhook_events",
                "SELECT body FROM webhook_quarantine",
                "SELECT alert_key FROM alerts_sent",
                "UPDATE webhook_events SET stale = false",
                "DELETE FROM webhook_events",
                "DELETE FROM webhook_quarantine",
                "TRUNCATE webhook_events",
                "INSERT INTO alerts_sent (alert_key, rule, sent_at) VALUES ('k', 'r', now())",
            ):
                with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), \
                        conn.begin():
                    conn.execute(sa.text(statement))
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                store.events_after(0)

    with LandingStore(postgres_url) as admin:  # what the role landed, read as the owner
        assert [e.idempotency_key for e in admin.events_after(0)] == ["evt_1"]
        assert [e.idempotency_key for e in admin.stale()] == ["evt_stale"]
        assert admin.counts().quarantined == 1


def test_grant_role_is_idempotent_and_takes_back_extra_privileges(postgres_url, role):
    with LandingStore(postgres_url) as admin:
        first = admin.grant_receiver_role(role)
        assert first[0].startswith("CREATE ROLE")
        with admin.engine.begin() as conn:  # someone granted more by hand
            conn.execute(sa.text(f'GRANT SELECT, DELETE ON webhook_events TO "{role}"'))
        again = admin.grant_receiver_role(role)
        assert not any(s.startswith("CREATE ROLE") for s in again)
        with admin.engine.connect() as conn:
            privileges = set(conn.execute(sa.text(
                "SELECT table_name || ':' || privilege_type FROM information_schema.role_table_grants"
                " WHERE grantee = :r"), {"r": role}).scalars())
    assert privileges == {"webhook_events:INSERT", "webhook_quarantine:INSERT"}


def test_revoked_insert_makes_the_receiver_unhealthy(postgres_url, role):
    with LandingStore(postgres_url) as admin:
        admin.grant_receiver_role(role)
        with LandingStore(as_role(postgres_url, role)) as store, \
                receiver_url(create_receiver_app(store, [CURRENT])) as url:
            assert httpx.get(url + "/healthz").status_code == 200
            with admin.engine.begin() as conn:
                conn.execute(sa.text(f'REVOKE INSERT ON webhook_events FROM "{role}"'))
            response = httpx.get(url + "/healthz")
            assert response.status_code == 503
            assert response.json()["reason"] == "landing store refuses writes (permission denied)"
            body = event_body(n=1)
            assert httpx.post(url + PATH, content=body,
                              headers=signed_headers(body, "evt_1")).status_code == 503


def test_grant_role_refuses_powerful_roles_bad_names_and_sqlite(postgres_url, sqlite_url):
    with LandingStore(postgres_url) as admin:
        with pytest.raises(ValueError, match="more power"):
            admin.grant_receiver_role("postgres")
        for name in ('robert"; drop table x; --', "Upper", "1abc", ""):
            with pytest.raises(ValueError, match="not a role name"):
                admin.grant_receiver_role(name)
    with LandingStore(sqlite_url) as local, pytest.raises(ValueError, match="PostgreSQL"):
        local.grant_receiver_role("ofhq_receiver")



def test_the_grant_role_command_needs_postgres(sqlite_url, monkeypatch, tmp_path):
    monkeypatch.setenv("OFHQ_LANDING_URL", sqlite_url)
    result = CliRunner().invoke(webhooks, ["grant-role", "ofhq_receiver"])
    assert result.exit_code != 0 and "PostgreSQL" in result.output
    assert not any(tmp_path.rglob("*.db"))  # refused before opening anything
