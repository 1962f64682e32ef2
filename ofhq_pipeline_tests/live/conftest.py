"""The member store lives in the landing store's database: the same SQLite and PostgreSQL
databases the landing store's tests use; the marts' roles come from the warehouse fixtures."""

from ofhq_pipeline_tests.realtime.conftest import landing_url, postgres_url, sqlite_url
from ofhq_pipeline_tests.warehouse.conftest import pg_url, role_prefix

__all__ = ["landing_url", "pg_url", "postgres_url", "role_prefix", "sqlite_url"]
