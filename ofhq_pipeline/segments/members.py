"""Segment membership: built per creator from the run's marts, kept per segment, exported.

    lake/segments/<segment>/<creator>.parquet    the members of one segment for one creator, as
                                                 of the last materialization of segments/<name>
    marts.segment_members                        every current segment's members (the run's
                                                 mart: one table for analysts, `segment` column)

A member row carries what a mass message needs: the fan, why he is in (stage, temperature,
spend tier, price range, value), and the item to send him at his price (his rank-1
`fan_recommendations` row).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from ofhq_pipeline.lake import (
    Lake,
    atomic_write,
    empty_select,
    file_list,
    parquet_rows,
    quote,
    sql_text,
)
from ofhq_pipeline.segments.csv_cells import safe_cell
from ofhq_pipeline.segments.spec import (
    Segment,
    SegmentError,
    find_segment,
    member_query,
)

LAYER = "segments"
PREVIEW_ROWS = 10
PREVIEW_COLUMNS = ("fan_id", "username", "stage", "temperature", "spend_tier",
                   "lifetime_spend_cents", "recommended_media_id", "suggested_price_cents")
FORMATS = ("csv", "json")


def members_path(store: Lake, name: str, creator_id: str) -> Path:
    return store.staging_path(name, creator_id, layer=LAYER)


def attach_base(con: duckdb.DuckDBPyConnection) -> None:
    """`segments.base`: every fan with what segments filter on (marts not built yet are empty)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS segments")
    con.execute(f"CREATE OR REPLACE VIEW segments.base AS {sql_text('segments/base')}")


def check_fields(con: duckdb.DuckDBPyConnection, segment: Segment) -> None:
    """A whitelisted field the creator's tables do not have (yet) is named, not a binder error."""
    columns = {row[0] for row in con.execute("DESCRIBE segments.base").fetchall()}
    missing = [f for f in segment.fields if f not in columns]
    if missing:
        raise SegmentError(f"segment '{segment.name}': field(s) {', '.join(missing)} not in "
                           "marts.fan_profile / marts.fan_ltv for this creator")


@dataclass
class Membership:
    path: Path
    members: int
    fans: int
    preview: list[dict]


def build_members(store: Lake, segment: Segment, creator_id: str, *, as_of: datetime,
                  run_id: str) -> Membership:
    """The segment's members among the creator's fans, written to its membership file."""
    path = members_path(store, segment.name, creator_id)
    with store.session(creator_id, as_of=as_of, run_id=run_id) as con:
        attach_base(con)
        check_fields(con, segment)
        sql, params = member_query(segment)
        try:
            atomic_write(path, lambda tmp: con.execute(
                f"COPY ({sql}) TO {quote(tmp)} (FORMAT parquet, COMPRESSION zstd)", params))
        except duckdb.Error as exc:
            raise SegmentError(f"segment '{segment.name}': {exc}".splitlines()[0]) from None
        (fans,) = con.execute("SELECT count(*) FROM marts.fan_profile").fetchone()
        columns = ", ".join(PREVIEW_COLUMNS)
        rel = con.execute(
            f"SELECT {columns} FROM read_parquet({quote(path)}) "
            "ORDER BY lifetime_spend_cents DESC NULLS LAST, fan_id LIMIT ?", [PREVIEW_ROWS]
        )
        preview = [dict(zip(PREVIEW_COLUMNS, row, strict=True)) for row in rel.fetchall()]
        members = parquet_rows(con, path)
    return Membership(path, members, int(fans), preview)


def markdown_table(rows: list[dict], columns: tuple[str, ...] = PREVIEW_COLUMNS) -> str:
    if not rows:
        return "_no members_"

    def cell(value) -> str:
        return "" if value is None else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def build_segment_members(store: Lake, segments: list[Segment], creator_id: str,
                          run_id: str) -> tuple[Path, int]:
    """marts.segment_members: the current membership files of the creator's segments."""
    files = [members_path(store, s.name, creator_id) for s in segments]
    files = [f for f in files if f.exists()]
    path = store.mart_path("segment_members", creator_id, run_id)
    source = (f"SELECT * FROM read_parquet({file_list(files)}, "
              "union_by_name = true) ORDER BY segment, fan_id") if files else empty_select(
                  "marts/segment_members")
    con = duckdb.connect()
    try:
        atomic_write(path, lambda tmp: con.execute(
            f"COPY ({source}) TO {quote(tmp)} (FORMAT parquet, COMPRESSION zstd)"))
        return path, parquet_rows(con, path)
    finally:
        con.close()


# ---- export ---------------------------------------------------------------------------------
EXPORT_COLUMNS = (
    "creator_id", "fan_id", "username", "name", "recommended_media_id", "recommended_media_type",
    "suggested_price_cents", "suggested_price", "recommendation_reason", "stage", "temperature",
    "spend_tier", "price_range", "buyer_type", "lifetime_spend_cents", "probability_alive",
    "expected_spend_90d_cents", "as_of",
)


@dataclass
class Export:
    segment: Segment
    rows: list[dict]
    warnings: list[str]

    def render(self, fmt: str) -> str:
        if fmt == "csv":
            return to_csv(self.rows)
        if fmt == "json":
            return to_json(self.segment, self.rows)
        raise SegmentError(f"unknown export format {fmt!r} (use {' or '.join(FORMATS)})")


def read_members(store: Lake, segment: Segment, creators: list[str] | None = None) -> Export:
    folder = store.root / LAYER / segment.name
    files = sorted(folder.glob("*.parquet"))
    if creators:
        wanted = set(creators)
        files = [f for f in files if f.stem in wanted]
    if not files:
        raise SegmentError(
            f"segment '{segment.name}' has no members yet: materialize segments/{segment.name} "
            "(a sync does) for " + (", ".join(creators) if creators else "some creator")
        )
    con = duckdb.connect()
    try:
        frame = con.execute(
            f"SELECT * FROM read_parquet({file_list(files)}, "
            "union_by_name = true) ORDER BY creator_id, fan_id"
        ).pl()
    finally:
        con.close()
    warnings = []
    stale = frame.filter(pl.col("definition_hash") != segment.definition_hash)["creator_id"]
    if stale.len():
        warnings.append(
            f"segment '{segment.name}' changed since it was materialized for "
            f"{', '.join(sorted(set(stale.to_list())))}: re-materialize for current members"
        )
    rows = []
    for row in frame.iter_rows(named=True):
        price = row.get("suggested_price_cents")
        row["suggested_price"] = None if price is None else f"{price / 100:.2f}"
        rows.append({c: row.get(c) for c in EXPORT_COLUMNS})
    return Export(segment, rows, warnings)


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def to_csv(rows: list[dict]) -> str:
    """The members as CSV for a spreadsheet: text cells that would start a formula (a fan's
    username or name) are neutralised (`csv_cells`). Lines end in CRLF (RFC 4180): the writer
    quotes a cell holding any character of the line end, so a carriage return inside a name
    stays in its cell instead of starting a new row whose first cell could be a formula."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else safe_cell(_plain(v)) for k, v in row.items()})
    return out.getvalue()


def to_json(segment: Segment, rows: list[dict]) -> str:
    members = []
    for row in rows:
        recommended = None
        if row["recommended_media_id"] is not None:
            recommended = {
                "media_id": row["recommended_media_id"],
                "media_type": row["recommended_media_type"],
                "suggested_price_cents": row["suggested_price_cents"],
                "reason": row["recommendation_reason"],
            }
        members.append({
            "creator_id": row["creator_id"], "fan_id": row["fan_id"],
            "username": row["username"], "name": row["name"], "recommended": recommended,
            "profile": {k: _plain(row[k]) for k in (
                "stage", "temperature", "spend_tier", "price_range", "buyer_type",
                "lifetime_spend_cents", "probability_alive", "expected_spend_90d_cents", "as_of",
            )},
        })
    return json.dumps({
        "segment": segment.name, "description": segment.description,
        "definition_hash": segment.definition_hash, "count": len(members), "members": members,
    }, indent=1, ensure_ascii=False) + "\n"


def export_segment(store: Lake, name: str, fmt: str = "csv", *, creators: list[str] | None = None,
                   segments_file: Path | str | None = None) -> Export:
    """The members of segment `name` (every creator, or `creators`), ready to `render(fmt)`."""
    if fmt not in FORMATS:
        raise SegmentError(f"unknown export format {fmt!r} (use {' or '.join(FORMATS)})")
    return read_members(store, find_segment(name, segments_file), creators)

