"""The ledger's copy in the lake, one pair of files per blast, which the results marts read:

    lake/ledger/blasts/<creator>/<blast_id>.parquet             the blast, one row
    lake/ledger/blast_recipients/<creator>/<blast_id>.parquet   its recipient rows

The ledger (a SQL database) stays the truth a send is checked against; the marts of every
creator_marts run read these files instead, so what a run reads of the ledger is a Parquet scan
of the columns it needs, and a blast's files are rewritten only by a run of that blast (its send,
its read-back): the cost follows the blasts that change, not the ledger's history. A run that
dies between the ledger and its copy leaves the copy behind until the blast's next run.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from ofhq_pipeline.blasts.ledger import BLAST_SCHEMA, RECIPIENT_SCHEMA, Blast, BlastLedger
from ofhq_pipeline.blasts.plan import BLAST_ID, BlastRequestError
from ofhq_pipeline.lake import Lake, atomic_write
from ofhq_pipeline.source.contract import require_creator_id

TABLES = ("blasts", "blast_recipients")
SCHEMAS = {"blasts": {k: v for k, v in BLAST_SCHEMA.items() if k != "parameters_sha256"},
           "blast_recipients": RECIPIENT_SCHEMA}


def folder(store: Lake, table: str, creator_id: str) -> Path:
    return store.root / "ledger" / table / require_creator_id(creator_id)


def write_mirror(store: Lake, ledger: BlastLedger, blast: Blast) -> None:
    """Copy the blast's rows of the ledger into its two files (each replaced atomically)."""
    if not BLAST_ID.fullmatch(blast.blast_id):
        raise BlastRequestError(f"blast id {blast.blast_id!r} is not a plain id")
    frames = dict(zip(TABLES, ledger.frames(blast.creator_id, blast.blast_id), strict=True))
    for table, frame in frames.items():
        path = folder(store, table, blast.creator_id) / f"{blast.blast_id}.parquet"
        atomic_write(path, lambda tmp, f=frame: f.write_parquet(tmp, compression="zstd"))


def attach_ledger(store: Lake, con: duckdb.DuckDBPyConnection, creator_id: str) -> None:
    """`ledger.blasts` and `ledger.blast_recipients` in the session: the creator's copies, or
    empty tables of their shape before his first blast."""
    con.execute("CREATE SCHEMA IF NOT EXISTS ledger")
    for table in TABLES:
        files = sorted(folder(store, table, creator_id).glob("*.parquet"))
        if files:
            source = f"read_parquet({[str(f) for f in files]!r}, union_by_name = true)"
        else:
            empty = pl.DataFrame(schema=SCHEMAS[table])
            con.register(f"empty_ledger_{table}", empty)
            source = f"empty_ledger_{table}"
        con.execute(f"CREATE OR REPLACE VIEW ledger.{table} AS SELECT * FROM {source}")


