"""Small mart Parquet files in the lake's layout, written with DuckDB, for the warehouse tests."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import duckdb

from ofhq_pipeline.lake import Lake, quote
from ofhq_pipeline.settings import Paths

# Every kind of column the marts have or may get: text with CSV- and array-hostile characters,
# integers, doubles (with infinity and NULL), booleans, instants, days, decimals, lists of text
# and of integers (arrays in Postgres), a struct (JSONB); and two of the classifier's columns,
# which the CFO's projection (fan_profile_money) must leave out.
FAN_PROFILE = """
SELECT
    $creator                                                     AS creator_id,
    i::BIGINT                                                     AS fan_id,
    CASE i % 7 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'quote" comma, new' || chr(10) || 'line'
        WHEN 3 THEN 'back\\slash {brace}' WHEN 4 THEN 'ünïcødé ✓' WHEN 5 THEN 'NULL'
        ELSE 'u' || i END                                         AS username,
    (i * 137 % 100000 + $bump)::BIGINT                            AS lifetime_spend_cents,
    (i % 13)::INTEGER                                             AS purchase_count,
    CASE WHEN i % 5 = 0 THEN NULL WHEN i = 3 THEN 'inf'::DOUBLE ELSE i / 7.0 END::DOUBLE
                                                                  AS conversion_rate,
    i % 2 = 0                                                     AS chargeback_risk,
    TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_microseconds(i * 1234567)
                                                                  AS last_purchase_at,
    DATE '2026-01-01' + (i % 300)::INTEGER                        AS first_day,
    (i / 8.0)::DECIMAL(18, 3)                                     AS avg_price,
    CASE WHEN i % 4 = 0 THEN NULL
        ELSE ['tip', 'ppv "x"', NULL, 'a,b}', 'back\\'][1:(i % 6)] END AS tags,
    [i, i + 1]::BIGINT[]                                          AS ids,
    {'score': (i % 10)::INTEGER, 'label': 'l' || i}               AS detail,
    'a portrait of fan ' || i                                     AS narrative_summary,
    (i * 7 % 101)::INTEGER                                        AS intent_ready_to_buy,
    TIMESTAMPTZ '2026-11-01 00:00:00+00'                          AS as_of
    {extra}
FROM range($rows) AS t(i)
"""

TRANSACTIONS = """
SELECT
    $creator                                                      AS creator_id,
    $creator || '_tr_' || i                                       AS transaction_id,
    (i % 50)::BIGINT                                              AS fan_id,
    TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_microseconds(i * 60000000) AS created_at,
    ['tip', 'message', 'subscription'][1 + i % 3]                 AS type,
    (i * 100 + $bump)::BIGINT                                     AS amount_cents,
    i % 4 <> 0                                                    AS is_purchase,
    CASE WHEN i % 3 = 0 THEN NULL ELSE ('\\xAA\\x00' || i)::BLOB END AS receipt
FROM range($rows) AS t(i)
"""

CREATORS = """
SELECT $creator AS creator_id, 'user_' || $creator AS username, $rows::BIGINT AS fan_count,
       sum(i)::HUGEINT AS lifetime_revenue_cents
FROM range($rows) AS t(i)
"""

DAILY = """
SELECT $creator AS creator_id, DATE '2026-01-01' + i::INTEGER AS day,
       (i * 10 + $bump)::BIGINT AS gross_cents
FROM range(5) AS t(i)
"""

FAN_FACTS = """
SELECT $creator AS creator_id, (i % 50)::BIGINT AS fan_id, 'likes cats ' || i AS fact
FROM range(7) AS t(i)
"""

FAN_PREFERENCES = """
SELECT $creator AS creator_id, (i % 50)::BIGINT AS fan_id, ['cats', 'feet'][1 + i % 2] AS likes
FROM range(7) AS t(i)
"""

MESSAGES = """
SELECT $creator AS creator_id, i::BIGINT AS message_id, 'hello ' || i AS text
FROM range(4) AS t(i)
"""

MODELS = {
    "fan_profile": FAN_PROFILE,
    "transactions": TRANSACTIONS,
    "creators": CREATORS,
    "creator_revenue_daily": DAILY,
    "fan_facts": FAN_FACTS,
    "fan_preferences": FAN_PREFERENCES,
    "messages": MESSAGES,
}


def make_lake(root: Path) -> Lake:
    return Lake(
        Paths(home=root, warehouse=root / "warehouse.duckdb",
              analysts_marts=root / "analysts.duckdb")
    )


def write_run(
    lake: Lake,
    creator_id: str,
    rows: int,
    *,
    bump: int = 0,
    extra_column: bool = False,
    tables: tuple[str, ...] = tuple(MODELS),
) -> str:
    """Write one run's marts for a creator and make them current; returns the run id."""
    run_id = uuid.uuid4().hex
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        for table in tables:
            model = (
                MODELS[table]
                .replace("{extra}", ", 'added later' AS new_note" if extra_column else "")
                .replace("$creator", quote(creator_id))
                .replace("$rows", str(int(rows)))
                .replace("$bump", str(int(bump)))
            )
            path = lake.mart_path(table, creator_id, run_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            con.execute(f"COPY ({model}) TO {quote(path)} (FORMAT parquet)")
    finally:
        con.close()
    lake.commit_marts(creator_id, run_id)
    return run_id


def freeze(value):
    """A hashable, comparable form of a row value as DuckDB or psycopg2 return it."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, memoryview):  # psycopg2's bytea
        return bytes(value)
    if isinstance(value, Decimal):
        return value.normalize()
    return value


def row_set(rows) -> list:
    return sorted((tuple(freeze(v) for v in row) for row in rows), key=repr)
