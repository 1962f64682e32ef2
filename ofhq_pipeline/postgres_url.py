"""PostgreSQL URLs as managed services hand them out, for every setting that takes one.

psycopg2 is the project's one PostgreSQL driver. SQLAlchemy 2.1 maps a bare `postgresql://` to
psycopg 3, which is not installed, so every PostgreSQL URL goes through `sqlalchemy_url` (for
SQLAlchemy engines) or `libpq_dsn` (for `psycopg2.connect`) before use. Both accept
`postgresql://`, `postgres://` and `postgresql+psycopg2://` and refuse any other driver
(`postgresql+asyncpg://`, `postgresql+psycopg://`, ...), naming the setting the URL came from.

Dagster builds its storage engine from dagster.yaml itself, before any code of ours runs, so
DAGSTER_PG_URL is normalised by a storage class named there instead (`DagsterPostgresStorage`
below: deploy/dagster.postgres.yaml). It is built on first use: importing this module never
imports Dagster, so the webhook receiver can use it without loading Dagster.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

DRIVER = "psycopg2"
BACKENDS = ("postgresql", "postgres")


class PostgresUrlError(ValueError):
    """A URL that is not a PostgreSQL URL for psycopg2; the message names its setting."""


def safe_url(url: str | URL) -> str:
    """The URL with its password hidden, for logs and messages."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL may hold a secret anywhere: show nothing of it
        return "<unparsable URL>"


def is_postgres(url: str | URL) -> bool:
    """Whether the URL names PostgreSQL, whatever its driver."""
    try:
        backend = sa.make_url(url).drivername.partition("+")[0]
    except sa.exc.ArgumentError:
        return False
    return backend in BACKENDS


def sqlalchemy_url(url: str | URL, variable: str) -> URL:
    """The SQLAlchemy URL `postgresql+psycopg2://...` for a PostgreSQL URL given in `variable`."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise PostgresUrlError(f"{variable} is not a URL: {safe_url(url)}") from None
    # Split the scheme ourselves: URL.get_driver_name() would resolve a bare scheme to
    # SQLAlchemy's default driver, psycopg 3.
    backend, _, driver = parsed.drivername.partition("+")
    if backend not in BACKENDS:
        raise PostgresUrlError(
            f"{variable} is not a PostgreSQL URL: {safe_url(parsed)} "
            f"(expected postgresql://USER:PASSWORD@HOST:PORT/DB)"
        )
    if driver not in ("", DRIVER):
        raise PostgresUrlError(
            f"{variable} names the driver {driver!r}, which this project does not use: "
            f"{safe_url(parsed)}; write postgresql://... or postgresql+{DRIVER}://... "
            f"({DRIVER} is the one PostgreSQL driver installed)"
        )
    return parsed.set(drivername=f"postgresql+{DRIVER}")


def libpq_dsn(url: str | URL, variable: str) -> str:
    """The libpq URI (`postgresql://...`) for `psycopg2.connect`, from the same spellings."""
    return sqlalchemy_url(url, variable).set(drivername="postgresql").render_as_string(
        hide_password=False
    )


def _build_dagster_storage() -> type:
    from dagster_postgres import DagsterPostgresStorage as PostgresStorage
    from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

    class DagsterPostgresStorage(PostgresStorage):
        """dagster-postgres's storage (same config), with its URL normalised by
        `sqlalchemy_url`: a plain `postgresql://` URL works, another driver is refused."""

        @classmethod
        def from_config_value(cls, inst_data: Any, config_value: Any) -> DagsterPostgresStorage:
            return cls(
                inst_data=inst_data,
                postgres_url=sqlalchemy_url(
                    pg_url_from_config(config_value), _setting(inst_data)
                ).render_as_string(hide_password=False),
                should_autocreate_tables=config_value.get("should_autocreate_tables", True),
                token_provider=get_token_provider_from_config(config_value),
            )

    DagsterPostgresStorage.__module__ = __name__
    return DagsterPostgresStorage


def _setting(inst_data: Any) -> str:
    """What to call the URL in a message: its environment variable when dagster.yaml reads
    one (`postgres_url: {env: DAGSTER_PG_URL}`)."""
    raw = inst_data.config_dict if inst_data is not None else {}
    url = raw.get("postgres_url")
    if isinstance(url, dict) and "env" in url:
        return str(url["env"])
    if "postgres_db" in raw:
        return "postgres_db (its scheme) in dagster.yaml"
    return "postgres_url in dagster.yaml"


def __getattr__(name: str) -> Any:
    # dagster.yaml names `ofhq_pipeline.postgres_url.DagsterPostgresStorage`: Dagster looks it up
    # with getattr, which lands here the first time.
    if name == "DagsterPostgresStorage":
        cls = _build_dagster_storage()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
