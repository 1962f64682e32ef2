"""Connections to the marts database: OFHQ_MARTS_POSTGRES_URL, through psycopg2."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
from psycopg2.extensions import connection as PgConnection

from ofhq_pipeline import postgres_url
from ofhq_pipeline.postgres_url import safe_url as safe_url  # re-exported for the marts' users

SCHEMA = "ofhq_marts"
URL_ENV = "OFHQ_MARTS_POSTGRES_URL"
ROLE_PREFIX_ENV = "OFHQ_MARTS_ROLE_PREFIX"
DEFAULT_ROLE_PREFIX = "ofhq"
# Transaction-scoped advisory lock taken by everything that changes the schema `ofhq_marts`
# (publishers on any machine, `ofhq access`): they run one at a time, so two of them never race
# on CREATE TABLE or on a creator's rows.
PUBLISH_LOCK = 0x0F4D_4152_5453


def marts_url_from_env() -> str | None:
    return os.environ.get(URL_ENV) or None


def role_prefix_from_env() -> str:
    """Prefix of the group roles (`<prefix>_agency`, ...): roles are cluster-wide, so two
    environments sharing one PostgreSQL cluster (staging, production) should use two prefixes."""
    return os.environ.get(ROLE_PREFIX_ENV) or DEFAULT_ROLE_PREFIX


def libpq_dsn(url: str, variable: str = URL_ENV) -> str:
    """A libpq URI from `postgresql://`, `postgres://` or `postgresql+psycopg2://`; any other
    driver is refused, naming `variable` (see ofhq_pipeline.postgres_url)."""
    return postgres_url.libpq_dsn(url, variable)


@contextmanager
def connect(url: str) -> Iterator[PgConnection]:
    """A psycopg2 connection (not autocommit); closed on exit, rolled back unless committed."""
    conn = psycopg2.connect(libpq_dsn(url))
    try:
        yield conn
    finally:
        conn.close()


def lock_marts(cur) -> None:
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (PUBLISH_LOCK,))


def require_rls_bypass(cur, doing: str) -> None:
    """Refuse to go on unless the connected user reads and writes around row-level security.

    Every marts table forces row-level security on its owner too, and no policy is his: a
    publisher without BYPASSRLS would be refused COPY FROM, and his DELETEs would silently miss
    every row, leaving a creator's rows twice; `ofhq access` would lose assignments the same way.
    """
    cur.execute(
        "SELECT current_user, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
    )
    user, bypass = cur.fetchone()
    if not bypass:
        raise PermissionError(
            f"{user} may not {doing}: every table of {SCHEMA} forces row-level security, so "
            f"this needs a superuser or a role with BYPASSRLS (a superuser can grant it: "
            f'ALTER ROLE "{user}" BYPASSRLS)'
        )
