"""Publishing the analysts' file: a creator's run replaces only his rows, and the file always
equals one rebuilt whole from the lake's current marts."""

from __future__ import annotations

import duckdb
import pytest

from ofhq_pipeline.defs.marts import publish as publishing
from ofhq_pipeline.resources.lake import Lake, quote
from ofhq_pipeline.settings import Paths


@pytest.fixture
def store(tmp_path) -> Lake:
    return Lake(Paths(home=tmp_path, warehouse=tmp_path / "warehouse.duckdb",
                      analysts_marts=tmp_path / "marts.duckdb"))


def write_mart(store: Lake, creator_id: str, run_id: str, table: str, select: str) -> None:
    path = store.mart_path(table, creator_id, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.execute(f"COPY ({select}) TO {quote(path)} (FORMAT parquet)")


def run(store: Lake, creator_id: str, run_id: str, spend: int, extra_column: bool = False) -> None:
    """One creator's run: a transactions mart (3 rows) and a creators mart (1 row), published."""
    extra = ", 'new' AS channel" if extra_column else ""
    write_mart(store, creator_id, run_id, "transactions",
               f"SELECT '{creator_id}' AS creator_id, 'tx_' || i AS transaction_id, "
               f"CAST({spend} + i AS BIGINT) AS amount_cents{extra} FROM range(3) t(i)")
    write_mart(store, creator_id, run_id, "creators",
               f"SELECT '{creator_id}' AS creator_id, CAST({spend} AS BIGINT) AS revenue_cents")
    publishing.publish(store, creator_id, run_id)


def tables(path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {table: sorted(con.execute(f"SELECT * FROM marts.{table}").fetchall(), key=repr)
                for table in ("transactions", "creators")}
    finally:
        con.close()


def whole_rebuild(store: Lake, tmp_path) -> dict[str, list[tuple]]:
    other = tmp_path / "rebuilt" / "marts.duckdb"
    publishing.build_analysts_file(store, other, publishing.datetime.now(publishing.UTC))
    return tables(other)


def last_full_rebuild(store: Lake) -> str:
    return publishing.full_rebuilds(store)[str(store.paths.analysts_marts)]


def test_a_run_replaces_only_its_creators_rows(store, tmp_path):
    for creator_id, spend in [("acct_a", 100), ("acct_b", 200), ("acct_c", 300)]:
        run(store, creator_id, f"r1_{creator_id}", spend)
    built_whole_at = last_full_rebuild(store)
    run(store, "acct_b", "r2_acct_b", 900)

    published = tables(store.paths.analysts_marts)
    assert published == whole_rebuild(store, tmp_path)
    assert published["creators"] == [("acct_a", 100), ("acct_b", 900), ("acct_c", 300)]
    assert sorted(r[2] for r in published["transactions"] if r[0] == "acct_b") == [900, 901, 902]
    assert last_full_rebuild(store) == built_whole_at  # the later runs refreshed, not rebuilt


def test_a_mart_whose_columns_changed_rebuilds_the_file(store, tmp_path):
    run(store, "acct_a", "r1", 100)
    run(store, "acct_b", "r1b", 200)
    built_whole_at = last_full_rebuild(store)
    run(store, "acct_b", "r2b", 300, extra_column=True)

    assert last_full_rebuild(store) > built_whole_at
    con = duckdb.connect(str(store.paths.analysts_marts), read_only=True)
    rows = con.execute("SELECT creator_id, channel FROM marts.transactions "
                       "GROUP BY ALL ORDER BY creator_id").fetchall()
    con.close()
    assert rows == [("acct_a", None), ("acct_b", "new")]


def test_the_file_is_rebuilt_whole_once_an_hour(store, monkeypatch):
    run(store, "acct_a", "r1", 100)
    first = last_full_rebuild(store)
    run(store, "acct_a", "r2", 200)
    assert last_full_rebuild(store) == first
    monkeypatch.setattr(publishing, "FULL_REBUILD_EVERY", publishing.timedelta(0))
    run(store, "acct_a", "r3", 300)
    assert last_full_rebuild(store) > first
    assert tables(store.paths.analysts_marts)["creators"] == [("acct_a", 300)]
