"""The data dictionary against a whole sync of a simulated agency: every table of the published
analysts' file and every raw, staging and intermediate table of the lake is documented with the
same columns, in the same order, with the same DuckDB types; and the dictionary holds no table
the pipeline does not write."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import duckdb
import polars as pl
import pytest

from ofhq_pipeline.dictionary import TABLES
from ofhq_pipeline.settings import Paths
from ofhq_pipeline.sync import sync
from ofhq_pipeline_tests.conftest import point_at
from ofhq_pipeline_tests.dictionary.schemas import differences, parquet_schema

# A whole sync of the simulated agency: the second CI step, `make test-slow`.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def agency():
    """Two creators of a third of the demo's size: every table gets written, and each published
    one holds the rows of several creators (as test_batch_path.py's agency, one creator fewer)."""
    from ofhq_pipeline.source.simulator import generate_agency

    return generate_agency(seed=7, scale=1 / 3, n_creators=2)


def analysts_tables(path: Path) -> dict[str, list[tuple[str, str]]]:
    """(column, type) of every table of the analysts' file, by the mart's key."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                             "WHERE database_name = current_database()").fetchall()
        return {
            f"marts/{table}": [(r[0], r[1]) for r in con.execute(
                f'DESCRIBE "{schema}"."{table}"').fetchall()]
            for schema, table in tables
        }
    finally:
        con.close()


def lake_files(lake: Path) -> dict[str, list[Path]]:
    """Every file of the raw, staging and intermediate layers, by the table's key."""
    files: dict[str, list[Path]] = defaultdict(list)
    for layer in ("staging", "intermediate"):
        for path in sorted((lake / layer).glob("*/*.parquet")):  # <table>/<creator>.parquet
            files[f"{layer}/{path.parent.name}"].append(path)
    for path in sorted((lake / "raw").glob("*/*/*.parquet")):  # <table>/<creator>/<batch>
        files[f"raw/{path.parent.parent.name}"].append(path)
    for path in sorted((lake / "agency").glob("accounts.parquet")):  # the account list
        files["raw/accounts"].append(path)
    return files


def test_the_dictionary_is_what_the_pipeline_writes(monkeypatch, tmp_path, agency, simulator,
                                                    instance):
    defs = point_at(monkeypatch, simulator.url, tmp_path / "home", as_of=agency.end.isoformat())
    runs = sync(defs, instance)
    assert [r.error for r in runs if not r.success] == []
    assert len(runs) == agency.accounts.filter(pl.col("is_authenticated")).height >= 2
    paths = Paths.from_env()

    problems = []
    published = analysts_tables(paths.analysts_marts)
    for key, columns in sorted(published.items()):
        problems += differences(key, columns, "analysts' file")
    layers = lake_files(paths.lake)
    for key, files in sorted(layers.items()):
        for path in files:
            problems += differences(key, parquet_schema(path), str(path.relative_to(paths.lake)))
    assert problems == [], "\n".join(problems)

    # The reverse: nothing documented that no run writes, in either part of the dictionary.
    written = set(published) | set(layers)
    assert sorted(set(TABLES) - written) == []
    assert {t.layer for t in TABLES.values()} == {"marts", "raw", "staging", "intermediate"}
