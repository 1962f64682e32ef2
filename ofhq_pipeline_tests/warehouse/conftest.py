"""PostgreSQL fixtures for the warehouse tests: a database and a role prefix per test.

Databases are per test and dropped afterwards; roles are cluster-wide, so every test's group
roles and members carry a unique prefix and are dropped after its database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg2
import pytest

from ofhq_pipeline_tests.realtime.conftest import require_postgres

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def admin_execute(*statements: str, dsn: str = ADMIN_DSN) -> list:
    """Run statements as the superuser (autocommit); returns the rows of the last one."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            result = []
            for statement in statements:
                cur.execute(statement)
                result = cur.fetchall() if cur.description else []
            return result
    finally:
        conn.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, uniquely named database (SQLAlchemy URL, psycopg2 driver), dropped afterwards."""
    require_postgres()
    name = f"ofhq_wh_{uuid.uuid4().hex[:12]}"
    admin_execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def role_prefix(pg_url) -> Iterator[str]:
    """A unique prefix for this test's roles; every role starting with it is dropped after the
    test's database (which holds their grants and policies) is gone."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield prefix
    # pg_url's teardown runs after this one: drop the database first, then the roles.
    name = pg_url.rsplit("/", 1)[1]
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    for (role,) in admin_execute(
        f"SELECT rolname FROM pg_roles WHERE rolname LIKE '{prefix}%' ORDER BY rolname"
    ):
        admin_execute(f'DROP ROLE IF EXISTS "{role}"')
