"""Asking "has he bought this?" about any fan and any item of the vault.

marts.fan_asset_status holds a row only for the items sent to a fan; every other pair is
`never_sent`. Three ways to ask about any pair:

- SQL in the analysts' file, with the macros of sql/published/analyst_macros.sql once publishing
  installs them (`install_analyst_macros`):
      SELECT marts.asset_status('acct_8f2k', 48213377, 7012);
      SELECT * FROM marts.fan_vault_status('acct_8f2k', 48213377);
- the same query by hand (no macro needed):
      SELECT v.media_id, coalesce(s.status, 'never_sent') AS status
      FROM marts.vault_media v LEFT JOIN marts.fan_asset_status s
        ON s.creator_id = v.creator_id AND s.media_id = v.media_id AND s.fan_id = 48213377
      WHERE v.creator_id = 'acct_8f2k';
- Python or the command line: `fan_vault_status(...)`, `ofhq vault status --creator C --fan F`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ofhq_pipeline.lake import sql_text

STATUS_QUERY = """
SELECT v.media_id, v.media_type, coalesce(s.status, 'never_sent') AS status, s.last_sent_at,
       s.last_offered_at, s.bought_at, s.bought_price_cents
FROM marts.vault_media AS v
LEFT JOIN marts.fan_asset_status AS s
    ON s.creator_id = v.creator_id AND s.media_id = v.media_id AND s.fan_id = ?
WHERE v.creator_id = ?
"""


def install_analyst_macros(con: duckdb.DuckDBPyConnection, schema_name: str) -> bool:
    """Create `asset_status` and `fan_vault_status` in the analysts' file being built.

    `schema_name` is where the tables were written (`analysts.main` or `analysts.marts`, as in
    publish.build_analysts_file). Returns False (and creates nothing) before any creator has
    the vault marts."""
    catalog, schema = schema_name.split(".")
    (tables,) = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
        "AND table_name IN ('vault_media', 'fan_asset_status')", [catalog, schema]
    ).fetchone()
    if tables < 2:
        return False
    # Bodies are bound now and again when called: the names must resolve both in the file being
    # built and in the file as analysts open it (catalog `marts` for marts.duckdb: bare names;
    # any other file name: schema `marts`).
    marts = "" if schema == "main" else "marts."
    text = sql_text("published/analyst_macros").replace("{marts}", marts).replace(
        "{schema}", f"{catalog}.{schema}.")
    (previous,) = con.execute("SELECT current_database() || '.' || current_schema()").fetchone()
    con.execute(f"USE {catalog}.{schema}" if schema == "main" else f"USE {catalog}")
    try:
        con.execute(text)
    finally:
        con.execute(f"USE {previous}")
    return True


def fan_vault_status(analysts_file: Path | str, creator_id: str, fan_id: int,
                     media_id: int | None = None) -> list[dict]:
    """Every vault item of the creator (or one) with the fan's status, from the analysts' file."""
    con = duckdb.connect(str(analysts_file), read_only=True)
    try:
        sql = STATUS_QUERY + (" AND v.media_id = ?" if media_id is not None else "")
        params = [fan_id, creator_id] + ([media_id] if media_id is not None else [])
        rel = con.execute(sql + " ORDER BY v.media_id", params)
        columns = [d[0] for d in rel.description]
        return [dict(zip(columns, row, strict=True)) for row in rel.fetchall()]
    finally:
        con.close()
