"""A plain `postgresql://` URL, as managed PostgreSQL services hand them out, works for each of the
three settings that take one (DAGSTER_PG_URL, OFHQ_LANDING_URL, OFHQ_MARTS_POSTGRES_URL) on the
real server, through psycopg2; another driver is refused with an error naming the setting."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator

import dagster as dg
import pytest

from ofhq_pipeline.defs.deployment import POSTGRES_INSTANCE
from ofhq_pipeline.postgres_url import PostgresUrlError, libpq_dsn, sqlalchemy_url
from ofhq_pipeline.realtime.landing import LandingStore
from ofhq_pipeline.settings import PROJECT_ROOT
from ofhq_pipeline.warehouse.db import connect, marts_url_from_env
from ofhq_pipeline_tests.realtime.conftest import require_postgres
from ofhq_pipeline_tests.warehouse.conftest import admin_execute

SERVER = "postgres@127.0.0.1:5432"
SPELLINGS = ["postgresql", "postgres", "postgresql+psycopg2"]
PASSWORD = "s3cret-not-shown"
REFUSED = f"postgresql+asyncpg://someone:{PASSWORD}@127.0.0.1:5432/anything"

# Lists the runs the way the daemon, the webserver or a run worker loads the instance: a fresh
# interpreter, DAGSTER_HOME's dagster.yaml, DagsterInstance.get().
LIST_RUNS = """
import json
import dagster as dg
with dg.DagsterInstance.get() as instance:
    print(json.dumps({
        "storage": type(instance.run_storage).__name__,
        "runs": [run.run_id for run in instance.get_runs()],
    }))
"""


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A fresh database for this module (fails instead of skipping under CI=true), dropped after."""
    require_postgres()
    name = f"ofhq_urls_{uuid.uuid4().hex[:12]}"
    admin_execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def url(scheme: str, database: str) -> str:
    return f"{scheme}://{SERVER}/{database}"


def dagster_home(tmp_path) -> str:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(POSTGRES_INSTANCE, home / "dagster.yaml")
    return str(home)


def list_runs(home: str, pg_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DAGSTER_HOME": home, "DAGSTER_PG_URL": pg_url}
    return subprocess.run([sys.executable, "-c", LIST_RUNS], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@dg.asset
def one_row() -> int:
    return 1


@pytest.mark.parametrize("scheme", SPELLINGS)
def test_every_spelling_becomes_psycopg2(scheme) -> None:
    given = f"{scheme}://u:p%40w@db.internal:6543/marts?sslmode=require"
    assert sqlalchemy_url(given, "X").render_as_string(hide_password=False) == (
        "postgresql+psycopg2://u:p%40w@db.internal:6543/marts?sslmode=require"
    )
    assert libpq_dsn(given, "X") == "postgresql://u:p%40w@db.internal:6543/marts?sslmode=require"


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", SPELLINGS)
def test_landing_store_takes_a_plain_url(database, scheme, monkeypatch) -> None:
    monkeypatch.setenv("OFHQ_LANDING_URL", url(scheme, database))
    key = f"evt_{scheme}"
    body = f'{{"event":"tips.received","key":"{key}"}}'
    with LandingStore() as store:
        assert store.url.drivername == "postgresql+psycopg2"
        assert store.land(idempotency_key=key, event="tips.received", body=body,
                          account_id="acct_8f2k")
    # Read back by another store, through another spelling of the same database.
    with LandingStore(url("postgresql+psycopg2", database)) as reader:
        landed = {e.idempotency_key: e for e in reader.events_after(0, 100)}
    assert landed[key].body == body and landed[key].account_id == "acct_8f2k"


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", SPELLINGS)
def test_marts_connection_takes_a_plain_url(database, scheme, monkeypatch) -> None:
    monkeypatch.setenv("OFHQ_MARTS_POSTGRES_URL", url(scheme, database))
    with connect(marts_url_from_env()) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_database(), current_user")
        assert cur.fetchone() == (database, "postgres")


@pytest.mark.postgres
def test_dagster_storage_takes_a_plain_url(database, tmp_path, monkeypatch) -> None:
    home = dagster_home(tmp_path)
    plain = url("postgresql", database)
    monkeypatch.setenv("DAGSTER_HOME", home)
    monkeypatch.setenv("DAGSTER_PG_URL", plain)
    with dg.DagsterInstance.from_config(home) as instance:
        result = dg.materialize([one_row], instance=instance)
        assert result.success
    # Another process, as the daemon or a run worker, finds that run in the same storage.
    listed = list_runs(home, plain)
    assert listed.returncode == 0, listed.stderr[-4000:]
    out = json.loads(listed.stdout.strip().splitlines()[-1])
    assert out == {"storage": "PostgresRunStorage", "runs": [result.run_id]}
    # And so does one given the URL as `postgres://`.
    again = list_runs(home, url("postgres", database))
    assert again.returncode == 0, again.stderr[-4000:]
    assert json.loads(again.stdout.strip().splitlines()[-1])["runs"] == [result.run_id]


def test_landing_store_refuses_another_driver() -> None:
    with pytest.raises(PostgresUrlError) as refused:
        LandingStore(REFUSED)
    message = str(refused.value)
    assert "OFHQ_LANDING_URL" in message and "asyncpg" in message
    assert PASSWORD not in message


def test_marts_connection_refuses_another_driver(monkeypatch) -> None:
    monkeypatch.setenv("OFHQ_MARTS_POSTGRES_URL", REFUSED)
    with pytest.raises(PostgresUrlError) as refused, connect(marts_url_from_env()):
        pass
    message = str(refused.value)
    assert "OFHQ_MARTS_POSTGRES_URL" in message and "asyncpg" in message
    assert PASSWORD not in message


def test_dagster_storage_refuses_another_driver(tmp_path) -> None:
    listed = list_runs(dagster_home(tmp_path), REFUSED)
    assert listed.returncode != 0
    assert "PostgresUrlError: DAGSTER_PG_URL names the driver 'asyncpg'" in listed.stderr
    assert PASSWORD not in listed.stderr
