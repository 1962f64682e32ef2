"""The vault's SQL models, run in the creator's usual DuckDB session (`Lake.session`).

- `fan_asset_status` (sql/vault/fan_asset_status.sql): per fan and item sent to him, bought /
  sent free / offered and not bought;
- `vault_media` (sql/vault/vault_media.sql): the vault with offer, sale and popularity figures;
- `fan_recommendations` (sql/vault/fan_recommendations.sql): the top items per fan.

Each writes into the run's mart folder (`Lake.mart_path`), so publishing makes them current with
the run's other marts. A mart a model reads that the creator may not have (the classifier's
`fan_preferences`, or `vault_tags` before the first tagging) is read as `inputs.<table>`: an
empty relation of its expected shape unioned by name with the mart when it exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from ofhq_pipeline.resources.lake import Lake, sql_text

FALLBACKS = {
    "fan_preferences": "vault/fan_preferences_empty",
    "vault_tags": "vault/vault_tags_empty",
}


@dataclass(frozen=True)
class MatchingConfig:
    """How fan_recommendations ranks and what it leaves out."""

    top_k: int = 5
    exclude_offered_days: int = 30
    new_item_days: int = 30

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ValueError("top_k must be at least 1")
        if self.exclude_offered_days < 0 or self.new_item_days < 0:
            raise ValueError("day windows cannot be negative")


def has_view(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    (n,) = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE schema_name = ? AND view_name = ?",
        [schema, name],
    ).fetchone()
    return n > 0


def ensure_fallbacks(con: duckdb.DuckDBPyConnection, tables: dict[str, str] | None = None,
                     schema: str = "inputs") -> None:
    """`<schema>.<table>` for each mart a model reads that may be missing or narrower than
    expected: the empty relation of the expected shape, unioned by name with the creator's mart
    when there is one (so a column it does not have is there, as NULL)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for table, model in (tables or FALLBACKS).items():
        source = sql_text(model)
        if has_view(con, "marts", table):
            source += f"\nUNION ALL BY NAME SELECT * FROM marts.{table}"
        con.execute(f"CREATE OR REPLACE VIEW {schema}.{table} AS {source}")


def build(store: Lake, table: str, creator_id: str, *, as_of: datetime, run_id: str,
          config: MatchingConfig | None = None) -> tuple[Path, int]:
    """Run sql/vault/<table>.sql into the run's mart folder; returns (path, rows)."""
    config = config or MatchingConfig()
    path = store.mart_path(table, creator_id, run_id)
    with store.session(creator_id, as_of=as_of, run_id=run_id) as con:
        ensure_fallbacks(con)
        con.execute("SET VARIABLE rec_top_k = ?", [config.top_k])
        con.execute("SET VARIABLE rec_exclude_days = ?", [config.exclude_offered_days])
        con.execute("SET VARIABLE rec_new_days = ?", [config.new_item_days])
        rows = store.write_model(con, f"vault/{table}", path)
    return path, rows


def status_counts(path: Path) -> dict[str, int]:
    con = duckdb.connect()
    try:
        return dict(con.execute(
            f"SELECT status, count(*) FROM read_parquet('{path}') GROUP BY 1 ORDER BY 1"
        ).fetchall())
    finally:
        con.close()
