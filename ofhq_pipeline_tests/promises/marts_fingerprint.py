"""A fingerprint of an analysts' file, table by table: its columns with their types, its row count,
and a digest of its rows (sorted, so the order a run wrote them in does not matter).

Columns that differ between two runs of the same code on the same data are left out of the
digest, each for its reason; everything else must be the same for the same demo.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

# (table, column) → why two identical demos may differ there.
VOLATILE = {
    ("creators", "last_synced_at"): "when the run fetched the accounts (wall clock)",
    ("fan_lifecycle_events", "run_id"): "the id of the run that appended the event",
    ("system_stats", "refreshed_at"): "when the file was published (wall clock)",
    ("vault_media", "last_fetched_at"): "when the vault was fetched (wall clock)",
    ("vault_tags", "tagged_at"): "when the rules tagged the item (wall clock)",
    ("vault_taggings", "tagged_at"): "when the rules tagged the item (wall clock)",
    ("chatter_shift_performance", "source"): "the shift file's path, under the demo's home",
}
SNAPSHOT = Path(__file__).with_name("demo_marts.json")


def fingerprint(analysts_file: Path) -> dict[str, dict]:
    con = duckdb.connect(str(analysts_file), read_only=True)
    try:
        tables = [t for (t,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "ORDER BY 1").fetchall()]
        out = {}
        for table in tables:
            columns = con.execute(f'DESCRIBE main."{table}"').fetchall()
            kept = [name for name, *_ in columns if (table, name) not in VOLATILE]
            row = "(" + ", ".join(f'"{c}"' for c in kept) + ")"
            digest, rows = con.execute(
                f"SELECT md5(coalesce(string_agg(r, chr(10) ORDER BY r), '')), count(*) FROM "
                f'(SELECT CAST({row} AS VARCHAR) AS r FROM main."{table}")'
            ).fetchone()
            out[table] = {"columns": [f"{name} {dtype}" for name, dtype, *_ in columns],
                          "rows": rows, "digest": digest}
        return out
    finally:
        con.close()


def differences(expected: dict[str, dict], actual: dict[str, dict]) -> list[str]:
    """One line per table that differs: missing, new, other columns, other rows."""
    lines = []
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table), actual.get(table)
        if want is None or got is None:
            lines.append(f"{table}: {'new' if want is None else 'missing'}")
        elif want["columns"] != got["columns"]:
            lines.append(f"{table}: columns {want['columns']} became {got['columns']}")
        elif (want["rows"], want["digest"]) != (got["rows"], got["digest"]):
            lines.append(f"{table}: rows differ ({want['rows']} rows before, {got['rows']} now)")
    return lines


if __name__ == "__main__":  # python -m ofhq_pipeline_tests.promises.marts_fingerprint FILE
    import sys

    SNAPSHOT.write_text(json.dumps(fingerprint(Path(sys.argv[1])), indent=1, sort_keys=True) + "\n")
