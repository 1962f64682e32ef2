"""The staged tables' pandera schemas judge what a merge wrote: a repeated transaction id fails
(named in the failure cases), and a file or a whole table missing a judged column fails though
only the judged columns are read."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import polars as pl

from ofhq_pipeline.defs.staging.assets import staged_rows, validate, written_rows
from ofhq_pipeline.staging.schemas import StagedCastRejects, StagedTransactions


def transactions(ids: list[str]) -> pl.DataFrame:
    n = len(ids)
    at = datetime(2026, 11, 1, tzinfo=UTC)
    return pl.DataFrame({
        "creator_id": ["acct_a"] * n, "transaction_id": ids, "fan_id": list(range(n)),
        "created_at": [at] * n, "type": ["tip"] * n, "status": ["succeeded"] * n,
        "amount_cents": [500] * n, "net_cents": [400] * n,
        "chargeback_at": pl.Series([None] * n, dtype=pl.Datetime("us", "UTC")),
        "is_custom": [False] * n, "status_regressions": [0] * n,
        "description": ["Tip from <a>fan</a>"] * n,
    })


def test_distinct_transaction_ids_pass_and_a_repeated_one_fails_naming_it(tmp_path):
    ids = [f"tx_{i}" for i in range(1000)]
    passed, meta = validate(StagedTransactions, transactions(ids))
    assert passed and meta["rows"] == 1000

    passed, meta = validate(StagedTransactions, transactions([*ids, "tx_7"]))
    assert not passed
    assert meta["failures"] == 2  # both rows of tx_7
    assert "tx_7" in meta["failure_cases"].value and "unique" in meta["failure_cases"].value


def test_a_written_file_missing_a_judged_column_fails(tmp_path):
    path = tmp_path / "transactions.parquet"
    transactions(["tx_1", "tx_2"]).drop("status").write_parquet(path)
    passed, meta = validate(StagedTransactions, written_rows(path, StagedTransactions))
    assert not passed and "status" in meta["failure_cases"].value


def test_the_live_rows_of_a_changes_file_are_judged(tmp_path):
    path = tmp_path / "changes.parquet"
    frame = transactions(["tx_1", "tx_1"]).with_columns(
        pl.Series("_replaced", ["tx_1", "tx_1"]), pl.Series("_removed", [False, True]))
    frame.write_parquet(path)
    rows = written_rows(path, StagedTransactions)
    assert rows.height == 1 and "_removed" not in rows.columns
    assert validate(StagedTransactions, rows)[0]


def test_a_table_judged_whole_reads_only_the_judged_columns_and_still_fails_a_missing_one(tmp_path):
    path = tmp_path / "transactions.parquet"
    frame = transactions(["tx_1", "tx_2"]).with_columns(pl.lit("not judged").alias("unjudged"))
    frame.write_parquet(path)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # as every lake session
    select = f"SELECT * FROM read_parquet('{path}')"

    rows = staged_rows(con, select, StagedTransactions)
    assert "unjudged" not in rows.columns and "transaction_id" in rows.columns
    assert rows.height == 2 and validate(StagedTransactions, rows)[0]

    rows = staged_rows(con, f"SELECT * EXCLUDE (status) FROM read_parquet('{path}')",
                       StagedTransactions)
    passed, meta = validate(StagedTransactions, rows)
    assert not passed and "status" in meta["failure_cases"].value


def test_a_strict_schema_judges_every_column_of_a_whole_table(tmp_path):
    """cast_rejects is strict: a column it does not name is read, and fails it."""
    con = duckdb.connect()
    select = "SELECT 1 AS unexpected"
    assert StagedCastRejects.to_schema().strict
    assert "unexpected" in staged_rows(con, select, StagedCastRejects).columns
