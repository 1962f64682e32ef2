"""Reading what the pipeline wrote, and saying how it differs from the data dictionary."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ofhq_pipeline.dictionary import TABLES


def parquet_schema(path: Path) -> list[tuple[str, str]]:
    """(column, DuckDB type) of a Parquet file, in order."""
    con = duckdb.connect()
    try:
        escaped = str(path).replace("'", "''")
        return [(r[0], r[1]) for r in con.execute(
            f"DESCRIBE SELECT * FROM read_parquet('{escaped}')").fetchall()]
    finally:
        con.close()


def differences(key: str, written: list[tuple[str, str]], where: str = "") -> list[str]:
    """Every way the written columns differ from the dictionary's for `key`, each naming the
    table and the column; empty when they agree in names, order and types."""
    label = f"{key}{f' ({where})' if where else ''}"
    if key not in TABLES:
        return [f"{label}: written by the pipeline but not in the data dictionary"]
    documented = [(c.name, c.type) for c in TABLES[key].columns]
    if documented == written:
        return []
    problems = []
    for i in range(max(len(documented), len(written))):
        doc = documented[i] if i < len(documented) else None
        real = written[i] if i < len(written) else None
        if doc != real:
            problems.append(f"{label}: column {i + 1}: dictionary {doc}, written {real}")
    return problems
