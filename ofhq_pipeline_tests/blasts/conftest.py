"""The blast ledger lives in the landing store's database: the same SQLite and PostgreSQL
databases the landing store's tests use."""

from ofhq_pipeline_tests.realtime.conftest import landing_url, postgres_url, sqlite_url

__all__ = ["landing_url", "postgres_url", "sqlite_url"]
