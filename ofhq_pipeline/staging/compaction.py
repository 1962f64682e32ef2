"""Raw compaction: a creator's batches folded into one file per month, so that listing and
reading raw does not grow with the number of syncs.

Raw stays the audit trail: a month file holds every row of its batches as received, with its
batch id and item number, plus the entity keys the staging merge looks rows up by (sorted by
them). Only batches that every staged table already holds are folded, and never a table's newest
batch (the chats read starts from it). A month file is written whole and renamed into place
before its batches are removed; a batch left behind by a compaction cut short is removed when the
next staging starts (`remove_leftovers`), so the merge reads each row once.

Whole-feed reads (fans, chats, vault) list every entity on every sync, changed or not. Once older
than the retention, a row whose entity was listed identically just before and just after it is
dropped: the first and last sighting of each unchanged stretch stay, and staging computes the
same tables without the copies between them (the latest identical sighting decides what the
dropped one would have). A row the rejects name is always kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby
from pathlib import Path

import duckdb

from ofhq_pipeline.lake import (
    RAW_TABLES,
    REJECTS,
    Lake,
    atomic_write,
    file_list,
    is_month_file,
    quote,
    raw_columns,
)
from ofhq_pipeline.staging.merge import RAW_KEYS, key_columns, staged_batches

# The feeds re-read whole on every sync, by the entity key each row lists.
WHOLE_FEEDS = {"fans": "key_fan", "chats": "key_fan", "vault_media": "key_media"}


@dataclass(frozen=True)
class CompactionSettings:
    # Fold a table's staged batches once this many have gathered.
    batches: int = 48
    # Days an unchanged copy of a whole-feed row is kept before it may be dropped; None: forever.
    unchanged_copies_days: int | None = 7


def month_of(batch: Path) -> str:
    """A batch's month from its id (`20261106T...` → `2026-11`)."""
    return f"{batch.stem[:4]}-{batch.stem[4:6]}"


def compact(store: Lake, creator_id: str, settings: CompactionSettings) -> dict[str, int]:
    """Fold each raw table's staged batches into their months; returns batches folded per
    table."""
    held = staged_batches(store, creator_id)
    folded: dict[str, int] = {}
    for table in RAW_TABLES:
        batches = store.raw_batches(table, creator_id)[:-1]  # the newest stays a batch
        foldable = [b for b in batches if b.name in held[table]]
        if len(foldable) < max(settings.batches, 1):
            continue
        for month, group in groupby(foldable, key=month_of):
            fold_month(store, creator_id, table, month, list(group), settings)
        folded[table] = len(foldable)
    return folded


def fold_month(store: Lake, creator_id: str, table: str, month: str, batches: list[Path],
               settings: CompactionSettings) -> None:
    month_path = store.raw_dir(table, creator_id) / f"{month}.parquet"
    columns = [*raw_columns(table), *(f"key_{kind}" for kind in RAW_KEYS[table])]
    parts = [f"SELECT *, {key_columns(table)} "
             f"FROM read_parquet({file_list(batches)}, union_by_name = true)"]
    if month_path.exists():
        parts.append(f"SELECT * FROM read_parquet({quote(month_path)})")
    rows = f"""
        SELECT {', '.join(columns)} FROM ({' UNION ALL BY NAME '.join(parts)})
        QUALIFY row_number() OVER (PARTITION BY batch_id, item_no) = 1"""
    if table in WHOLE_FEEDS and settings.unchanged_copies_days is not None:
        rows = without_unchanged_copies(store, creator_id, table, rows,
                                        datetime.now(UTC)
                                        - timedelta(days=settings.unchanged_copies_days))
    order = ", ".join(f"key_{kind}" for kind in RAW_KEYS[table])
    con = store.connect()
    try:
        atomic_write(month_path, lambda tmp: con.execute(
            f"COPY ({rows} ORDER BY {order}, fetched_at, batch_id, item_no) TO {quote(tmp)} "
            "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 61440)"))
    finally:
        con.close()
    for batch in batches:
        batch.unlink(missing_ok=True)


def without_unchanged_copies(store: Lake, creator_id: str, table: str, rows: str,
                             before: datetime) -> str:
    """`rows` less each whole-feed row older than `before` whose entity was listed with the
    same payload just before and just after it, and that the rejects do not name."""
    key = WHOLE_FEEDS[table]
    rejects = store.staging_path(REJECTS, creator_id)
    kept_rejects = (f"OR EXISTS (SELECT 1 FROM read_parquet({quote(rejects)}) AS bad "
                    f"WHERE bad.source_table = '{table}' AND bad.batch_id = r.batch_id "
                    "AND bad.item_no = r.item_no)") if rejects.exists() else ""
    return f"""
        SELECT * EXCLUDE (previous_payload, next_payload) FROM (
            SELECT *,
                lag(payload) OVER sightings AS previous_payload,
                lead(payload) OVER sightings AS next_payload
            FROM ({rows})
            WINDOW sightings AS (PARTITION BY {key} ORDER BY fetched_at, batch_id, item_no)
        ) AS r
        WHERE {key} IS NULL
           OR fetched_at >= TIMESTAMPTZ '{before.isoformat()}'
           OR previous_payload IS DISTINCT FROM payload
           OR next_payload IS DISTINCT FROM payload
           {kept_rejects}"""


def remove_leftovers(store: Lake, creator_id: str) -> None:
    """Remove the batches a month file already holds (a compaction cut short between writing
    the month and removing its batches)."""
    for table in RAW_TABLES:
        files = store.raw_files(table, creator_id)
        months = {f.stem: f for f in files if is_month_file(f)}
        candidates = [b for b in files if not is_month_file(b) and month_of(b) in months]
        if not candidates:
            continue
        con = duckdb.connect()
        try:
            for month, group in groupby(candidates, key=month_of):
                names = [b.stem for b in group]
                held = {name for (name,) in con.execute(
                    f"SELECT DISTINCT batch_id FROM read_parquet({quote(months[month])}) "
                    "WHERE list_contains($names, batch_id)", {"names": names}).fetchall()}
                for batch in candidates:
                    if batch.stem in held:
                        batch.unlink(missing_ok=True)
        finally:
            con.close()
