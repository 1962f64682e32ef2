"""The raw rows staging sets aside (staging.cast_rejects), summed up per creator.

The rejects asset's check and the System Intelligence report read them through `summarize`, so
both name the same reasons. A reason is labelled by where it comes from and which field, with
list positions folded (`subscribes[3].date` and `subscribes[7].date` are one reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ofhq_pipeline.lake import file_list

TOP_REASONS = 5
SAMPLE_ROWS = 10


@dataclass(frozen=True)
class RejectsSummary:
    creator_id: str
    values: int  # rejected values: rows of staging.cast_rejects
    rows: int  # raw rows set aside (a row may hold several rejected values)
    reasons: list[tuple[str, int]]  # most common first, at most TOP_REASONS
    sample: list[dict] = field(default_factory=list)  # a few rejected values, newest first


REASONS = f"""
SELECT
    creator_id,
    source_table || coalesce(' ' || event, '') || ' '
        || regexp_replace(field, '\\[[0-9]+\\]', '[]', 'g') || ': ' || reason AS label,
    count(*) AS n
FROM {{source}}
GROUP BY creator_id, label
QUALIFY row_number() OVER (PARTITION BY creator_id ORDER BY n DESC, label) <= {TOP_REASONS}
ORDER BY creator_id, n DESC, label
"""

TOTALS = """
SELECT creator_id, count(*), count(DISTINCT (source_table, batch_id, item_no))
FROM {source}
GROUP BY creator_id
ORDER BY creator_id
"""

SAMPLE = f"""
SELECT creator_id, source_table, source_id, event, field, value, reason, seen_at
FROM {{source}}
QUALIFY row_number() OVER (
    PARTITION BY creator_id ORDER BY seen_at DESC, batch_id DESC, item_no DESC, field
) <= {SAMPLE_ROWS}
ORDER BY creator_id, seen_at DESC, batch_id DESC, item_no DESC, field
"""


def summarize(
    con: duckdb.DuckDBPyConnection, files: list[Path], *, sample: bool = False
) -> list[RejectsSummary]:
    """Per creator with rejects, from the given staging.cast_rejects files (set-based: a few
    aggregates, whatever their size); creators without rejects are left out."""
    files = [path for path in files if path.exists()]
    if not files:
        return []
    source = f"read_parquet({file_list(files)})"
    reasons: dict[str, list[tuple[str, int]]] = {}
    for creator_id, label, n in con.execute(REASONS.format(source=source)).fetchall():
        reasons.setdefault(creator_id, []).append((label, n))
    samples: dict[str, list[dict]] = {}
    if sample:
        rel = con.sql(SAMPLE.format(source=source))
        for row in rel.fetchall():
            record = dict(zip(rel.columns, row, strict=True))
            record["seen_at"] = record["seen_at"].isoformat()
            samples.setdefault(record.pop("creator_id"), []).append(record)
    return [
        RejectsSummary(creator_id, values, rows, reasons.get(creator_id, []),
                       samples.get(creator_id, []))
        for creator_id, values, rows in con.execute(TOTALS.format(source=source)).fetchall()
    ]
