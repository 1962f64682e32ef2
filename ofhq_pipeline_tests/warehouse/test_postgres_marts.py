"""Marts published to the real PostgreSQL: same tables, columns, types and rows as DuckDB's."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import duckdb
import psycopg2
import pytest

from ofhq_pipeline.resources.marts_postgres import MartsPostgresResource
from ofhq_pipeline.warehouse.access import FAN_PROFILE_MONEY_COLUMNS
from ofhq_pipeline.warehouse.db import libpq_dsn
from ofhq_pipeline.warehouse.postgres_marts import pg_type, publish_to_postgres
from ofhq_pipeline.warehouse.publish import build_analysts_file
from ofhq_pipeline_tests.warehouse.marts import make_lake, row_set, write_run

A, B = "acct_alpha", "acct_beta"


def pg_rows(url: str, sql: str, params=()) -> list[tuple]:
    conn = psycopg2.connect(libpq_dsn(url))
    try:
        with conn.cursor() as cur:
            cur.execute("SET TimeZone = 'UTC'")
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def pg_columns(url: str, table: str) -> list[tuple[str, str]]:
    return pg_rows(
        url,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        (f"ofhq_marts.{table}",),
    )


def publish_both(lake, creator_id, url, prefix):
    """What publish() does with OFHQ_MARTS_POSTGRES_URL set: the analysts' file, then Postgres."""
    published_at = datetime.now(UTC).replace(microsecond=0)
    counts = build_analysts_file(lake, lake.paths.analysts_marts, published_at)
    return publish_to_postgres(
        url, lake.current_marts(), creator_id, system_stats=counts, published_at=published_at,
        role_prefix=prefix,
    )


def assert_identical(lake, url) -> None:
    """Every table of the analysts' DuckDB file equals its Postgres twin: columns, rows."""
    con = duckdb.connect(str(lake.paths.analysts_marts), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        tables = [t for (t,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
        ).fetchall()]
        assert {"fan_profile", "transactions", "system_stats"} <= set(tables)
        for table in tables:
            duck = con.execute(f"SELECT * FROM marts.{table}")
            duck_columns = [d[0] for d in duck.description]
            duck_rows = duck.fetchall()
            pg = [name for name, _ in pg_columns(url, table)]
            assert pg[: len(duck_columns)] == duck_columns, table
            select = ", ".join(f'"{c}"' for c in duck_columns)
            assert row_set(pg_rows(url, f"SELECT {select} FROM ofhq_marts.{table}")) == row_set(
                duck_rows
            ), table
    finally:
        con.close()
    assert_projection(url)


def assert_projection(url) -> None:
    """fan_profile_money is fan_profile's rows with the CFO's columns only, in the same order."""
    money = pg_columns(url, "fan_profile_money")
    assert money == [
        (name, kind) for name, kind in pg_columns(url, "fan_profile")
        if name in FAN_PROFILE_MONEY_COLUMNS
    ]
    select = ", ".join(f'"{name}"' for name, _ in money)
    assert row_set(pg_rows(url, f"SELECT {select} FROM ofhq_marts.fan_profile_money")) == row_set(
        pg_rows(url, f"SELECT {select} FROM ofhq_marts.fan_profile")
    )


def test_types_map_to_postgres() -> None:
    con = duckdb.connect()
    relation = con.sql(
        "SELECT 1::BIGINT, 1::INTEGER, 1.5::DOUBLE, true, 'x', now(), today(), "
        "1.5::DECIMAL(18, 3), ['a'], [1]::BIGINT[], {'a': 1}, map {'k': 1}, [[1]], "
        "now()::TIMESTAMP, 1::HUGEINT, '{}'::JSON, [1, 2]::INTEGER[2], '\\x00'::BLOB"
    )
    assert [pg_type(t) for t in relation.types] == [
        "bigint", "integer", "double precision", "boolean", "text",
        "timestamp with time zone", "date", "numeric(18,3)", "text[]", "bigint[]", "jsonb",
        "jsonb", "jsonb", "timestamp without time zone", "numeric(39,0)", "jsonb", "integer[]",
        "bytea",
    ]


@pytest.mark.postgres
def test_postgres_marts_identical_to_duckdb(tmp_path, pg_url, role_prefix) -> None:
    lake = make_lake(tmp_path / "home")
    write_run(lake, A, 120)
    write_run(lake, B, 80)

    # Postgres attached to a lake that already has marts: a publish for A loads B too.
    first = publish_both(lake, A, pg_url, role_prefix)
    assert first.rows["fan_profile"] == 200
    assert first.creators["fan_profile"] == [A, B]
    assert pg_columns(pg_url, "fan_profile") == [
        ("creator_id", "text"), ("fan_id", "bigint"), ("username", "text"),
        ("lifetime_spend_cents", "bigint"), ("purchase_count", "integer"),
        ("conversion_rate", "double precision"), ("chargeback_risk", "boolean"),
        ("last_purchase_at", "timestamp with time zone"), ("first_day", "date"),
        ("avg_price", "numeric(18,3)"), ("tags", "text[]"), ("ids", "bigint[]"),
        ("detail", "jsonb"), ("narrative_summary", "text"), ("intent_ready_to_buy", "integer"),
        ("as_of", "timestamp with time zone"),
    ]
    assert [name for name, _ in pg_columns(pg_url, "fan_profile_money")] == [
        "creator_id", "fan_id", "username", "lifetime_spend_cents", "purchase_count",
        "conversion_rate", "chargeback_risk", "last_purchase_at", "as_of",
    ]
    assert first.rows["fan_profile_money"] == 200 and "created fan_profile_money" in first.changes
    assert dict(pg_columns(pg_url, "creators"))["lifetime_revenue_cents"] == "double precision"
    assert dict(pg_columns(pg_url, "transactions"))["receipt"] == "bytea"
    assert_identical(lake, pg_url)
    # Values that CSV and array literals could mangle arrive intact.
    assert pg_rows(pg_url, "SELECT username, tags FROM ofhq_marts.fan_profile "
                           "WHERE creator_id = %s AND fan_id IN (1, 2, 3, 5) ORDER BY fan_id",
                   (A,)) == [
        ("", ["tip"]),
        ('quote" comma, new\nline', ["tip", 'ppv "x"']),
        ("back\\slash {brace}", ["tip", 'ppv "x"', None]),
        ("NULL", ["tip", 'ppv "x"', None, "a,b}", "back\\"]),
    ]

    # A new run of creator A, with a column added: only A's rows change, the table evolves.
    write_run(lake, A, 150, bump=7, extra_column=True)
    second = publish_both(lake, A, pg_url, role_prefix)
    assert second.rows["fan_profile"] == 150
    assert second.creators["fan_profile"] == [A]
    assert second.rows["fan_profile_money"] == 150  # A's rows only
    assert "added fan_profile.new_note text" in second.changes
    assert pg_rows(pg_url, "SELECT creator_id, count(*), count(new_note) FROM "
                           "ofhq_marts.fan_profile GROUP BY 1 ORDER BY 1") == [
        (A, 150, 150), (B, 80, 0),
    ]
    assert_identical(lake, pg_url)
    stats = dict(((layer, name), n) for layer, name, n in pg_rows(
        pg_url, "SELECT layer, table_name, row_count FROM ofhq_marts.system_stats"))
    assert stats["marts", "fan_profile"] == 230

    # A full publish (no creator) replaces every table whole, with the same result.
    third = publish_both(lake, None, pg_url, role_prefix)
    assert third.rows["fan_profile"] == 230 and third.changes == []
    assert_identical(lake, pg_url)


def add_part(lake, creator_id: str, rows: int) -> None:
    """A part beside the creator's current transactions mart (`lake.mart_files`): `rows` more
    transactions, as a run that linked the staged file writes those merged since."""
    current = lake.root / lake.read_manifest(creator_id)["transactions"]
    part = current.with_name("transactions.added.parquet")
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * REPLACE ('added_' || transaction_id AS transaction_id) "
                     f"FROM read_parquet('{current}') LIMIT {rows}) TO '{part}' (FORMAT parquet)")


@pytest.mark.postgres
def test_a_mart_with_a_part_publishes_every_row_of_it(tmp_path, pg_url, role_prefix) -> None:
    """A creator's transactions are his mart file and the part beside it: Postgres loads both,
    and a part added since the last publish reloads his rows."""
    lake = make_lake(tmp_path / "home")
    write_run(lake, A, 40, tables=("fan_profile", "transactions"))
    write_run(lake, B, 30, tables=("fan_profile", "transactions"))
    publish_both(lake, None, pg_url, role_prefix)
    (before,) = pg_rows(pg_url, "SELECT count(*) FROM ofhq_marts.transactions WHERE creator_id = %s",
                        (A,))[0]

    add_part(lake, A, 5)
    published = publish_both(lake, B, pg_url, role_prefix)  # another creator's publish
    assert published.creators["transactions"] == [A, B]  # A's files are not the ones it holds
    assert pg_rows(pg_url, "SELECT count(*) FROM ofhq_marts.transactions WHERE creator_id = %s",
                   (A,)) == [(before + 5,)]
    assert_identical(lake, pg_url)
    again = publish_both(lake, B, pg_url, role_prefix)
    assert again.creators["transactions"] == [B]  # A's files are the ones it holds now


@pytest.mark.postgres
def test_reader_never_sees_half_a_creator(tmp_path, pg_url, role_prefix) -> None:
    """While creator A is republished over and over (alternately 30k and 60k fans), a reader
    polling both tables in one statement sees A entirely before or entirely after."""
    lake = make_lake(tmp_path / "home")
    tables = ("fan_profile", "transactions")
    write_run(lake, B, 1000, tables=tables)
    write_run(lake, A, 30_000, tables=tables)
    publish_to_postgres(pg_url, lake.current_marts(), None, role_prefix=role_prefix)
    snapshots = {}
    for rows in (60_000, 30_000):
        write_run(lake, A, rows, tables=tables)
        snapshots[rows] = lake.current_marts()
    allowed = {(30_000, 30_000, 1000), (60_000, 60_000, 1000)}

    seen: list[tuple[int, int, int]] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            conn = psycopg2.connect(libpq_dsn(pg_url))
            conn.autocommit = True  # each statement its own snapshot, as a dashboard polls
            with conn.cursor() as cur:
                while not stop.is_set():
                    cur.execute(
                        "SELECT (SELECT count(*) FROM ofhq_marts.fan_profile WHERE creator_id = %s),"
                        " (SELECT count(*) FROM ofhq_marts.transactions WHERE creator_id = %s),"
                        " (SELECT count(*) FROM ofhq_marts.fan_profile WHERE creator_id = %s)",
                        (A, A, B),
                    )
                    seen.append(cur.fetchone())
            conn.close()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def reader_saw(rows: int) -> None:
        """Wait until the reader has read the state just published (the bound is for a hang)."""
        deadline = time.monotonic() + 60
        while not (seen and seen[-1][0] == rows) and not errors:
            assert time.monotonic() < deadline, f"the reader never saw {rows} rows"
            time.sleep(0.01)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        reader_saw(30_000)
        for rows in (60_000, 30_000, 60_000):
            publish_to_postgres(pg_url, snapshots[rows], A, role_prefix=role_prefix)
            reader_saw(rows)  # it reads on while the next publish goes on
    finally:
        stop.set()
        reader.join()
    assert not errors, errors
    assert set(seen) <= allowed, set(seen) - allowed
    assert set(seen) == allowed  # the reader did see both states while publishing went on


@pytest.mark.postgres
def test_resource_publishes_only_when_configured(tmp_path, pg_url, role_prefix) -> None:
    lake = make_lake(tmp_path / "home")
    write_run(lake, A, 10, tables=("fan_profile",))
    assert MartsPostgresResource().publish(lake.current_marts(), A) is None
    result = MartsPostgresResource(url=pg_url, role_prefix=role_prefix).publish(
        lake.current_marts(), A, system_stats={"marts.fan_profile": 10}
    )
    assert result.rows == {"fan_profile": 10, "fan_profile_money": 10, "system_stats": 1}
    assert pg_rows(pg_url, "SELECT count(*) FROM ofhq_marts.fan_profile") == [(10,)]
