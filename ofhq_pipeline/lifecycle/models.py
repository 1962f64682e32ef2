"""The append-only log of a creator's fans' lifecycle events (marts/fan_lifecycle_events).

Its query and its two steps (sql/marts/fan_lifecycle_events.sql, and stage_changes.sql and
milestones.sql beside it) run in the creator's usual session (`Lake.session`) plus
`lifecycle.recorded_events`: the creator's log as recorded so far (`log_path`), `event_seq`
numbering his events in the order they were appended and `event_id` (the creator and that
number) keying them over every creator's log.

The log is appended to, never rewritten: an evaluation at `as_of` adds the stage changes and
milestones the log does not hold yet (new_events.sql) as a part of their own beside the log's
file, `<creator>.<first event_seq>.parquet`, under a per-creator lock, so that an evaluation costs
what it appends, not the log's history. Past `MAX_LOG_PARTS` parts, the log is written again as
one file. Its files are linked into the run's mart folder (the file and its parts: `mart_files`)
so that publishing makes them a table of the analysts' file. Evaluating the same `as_of` again
appends nothing.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from ofhq_pipeline import registry
from ofhq_pipeline.lake import (
    Lake,
    atomic_write,
    empty_select,
    file_list,
    file_lock,
    link_or_copy,
    mart_files,
    parquet_rows,
    quote,
    sql_text,
)

LOG_TABLE = "fan_lifecycle_events"
LOG_KEY = f"marts/{LOG_TABLE}"
# Parts appended beside the log's file before it is written again as one: a few runs' events
# each, so that reading the log lists a few files, and the rewrite comes once in so many runs.
MAX_LOG_PARTS = 16


def log_path(store: Lake, creator_id: str) -> Path:
    """lake/lifecycle/fan_lifecycle_events/<creator>.parquet: the creator's whole log."""
    return store.staging_path(LOG_TABLE, creator_id, layer="lifecycle")


def log_files(con: duckdb.DuckDBPyConnection, store: Lake, creator_id: str) -> list[Path]:
    """The creator's log as it is kept: its file, then the parts appended since, oldest first.
    A part whose events the file already holds (a fold cut short before it removed them) is
    removed here, under the log's lock."""
    path = log_path(store, creator_id)
    if not path.exists():
        return []
    files = mart_files(path)
    if len(files) > 1 and not numbered_per_creator(con, path):
        (held,) = con.execute(
            f"SELECT coalesce(max(event_seq), 0) FROM read_parquet({quote(path)})").fetchone()
        for part in files[1:]:
            if first_seq(part) <= held:
                part.unlink()
        files = mart_files(path)
    return files


def first_seq(part: Path) -> int:
    """The event_seq of a part's first event, which names it: `<creator>.<seq>.parquet`. Any
    other file so named beside the log (a copy an operator left there) stops the evaluation,
    named, rather than being read as events."""
    seq = part.name.split(".")[1]
    if not seq.isdigit():
        raise ValueError(f"{part}: not a part of the lifecycle log (parts are named "
                         "<creator>.<first event_seq>.parquet); move it out of the log's folder")
    return int(seq)


def attach_log(con: duckdb.DuckDBPyConnection, store: Lake, creator_id: str,
               run_id: str | None = None) -> None:
    """Add `lifecycle.recorded_events` and the run id the log's new events carry."""
    con.execute("CREATE SCHEMA IF NOT EXISTS lifecycle")
    recorded = recorded_log(con, store, creator_id)
    con.execute(f"CREATE OR REPLACE VIEW lifecycle.recorded_events AS {recorded}")
    con.execute("SET VARIABLE run_id = ?", [run_id])


def numbered_per_creator(con: duckdb.DuckDBPyConnection, log: Path) -> bool:
    """Whether a log file was written while event ids were numbers counted per creator: it has
    no `event_seq`, and its `event_id` is what `event_seq` is now."""
    columns = con.execute(f"DESCRIBE SELECT * FROM read_parquet({quote(log)})").fetchall()
    return "event_seq" not in {row[0] for row in columns}


def recorded_log(con: duckdb.DuckDBPyConnection, store: Lake, creator_id: str) -> str:
    """The SELECT of the creator's log as recorded so far, in the log's columns and order.

    A log numbered per creator is read with its numbers as `event_seq` and `event_id` made from
    them as it is today, so its events keep their order and get the ids they would have now;
    `record_events` stores it so at once.
    """
    empty = empty_select(LOG_KEY)
    files = log_files(con, store, creator_id)
    if not files:
        return empty
    source = f"read_parquet({file_list(files)})"
    if not numbered_per_creator(con, files[0]):
        return f"{empty}\nUNION ALL BY NAME SELECT * FROM {source}"
    return (
        f"{empty}\nUNION ALL BY NAME SELECT * REPLACE (creator_id || ':' || event_id AS event_id), "
        f"event_id AS event_seq FROM {source}"
    )


def stages_as_of(store: Lake, creator_id: str, as_of: datetime) -> dict[int, str]:
    """Every fan's stage at any instant, recomputed from the staged history alone (no file is
    written): the models between staging and intermediate.fan_stage, as views at `as_of`."""
    with store.session(creator_id, as_of=as_of) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        for model in registry.upstream("intermediate/fan_stage", past="staging"):
            con.execute(f"CREATE OR REPLACE VIEW {model.layer}.{model.table} AS "
                        f"{sql_text(model.key)}")
        return dict(con.execute("SELECT fan_id, stage FROM intermediate.fan_stage").fetchall())


def log_lock(store: Lake, creator_id: str) -> AbstractContextManager[None]:
    """One writer per creator's log at a time, whatever started the run."""
    return file_lock(log_path(store, creator_id).with_name(f".{creator_id}.lock"))


@dataclass(frozen=True)
class Recorded:
    """What one evaluation did to a creator's log."""

    stage_changes: int
    milestones: int
    total: int
    path: Path
    published_path: Path

    @property
    def appended(self) -> int:
        return self.stage_changes + self.milestones


def record_events(store: Lake, creator_id: str, *, as_of: datetime, run_id: str) -> Recorded:
    """Append the stage changes and milestones of an evaluation at `as_of` to the creator's log.

    Needs `intermediate.fan_stage` built for the same `as_of`. New events are appended as a
    part; the log is written whole when it has none yet, is still numbered per creator, or has
    `MAX_LOG_PARTS` parts (then its parts are removed). Either way the run's mart folder gets
    the current log (hard links of its files).
    """
    path = log_path(store, creator_id)
    with log_lock(store, creator_id), store.session(
        creator_id, as_of=as_of, run_id=run_id
    ) as con:
        attach_log(con, store, creator_id, run_id)
        counts = {}
        for model in ("stage_changes", "milestones", "new_events"):
            con.execute(
                f"CREATE OR REPLACE TABLE lifecycle.{model} AS {sql_text(f'{LOG_KEY}/{model}')}"
            )
            (counts[model],) = con.execute(f"SELECT count(*) FROM lifecycle.{model}").fetchone()
        files = mart_files(path) if path.exists() else []  # as attach_log left them
        if (not files or numbered_per_creator(con, path)
                or (counts["new_events"] and len(files) > MAX_LOG_PARTS)):
            store.write_model(con, LOG_KEY, path)
            for part in files[1:]:  # held by the file now (if cut short here: `log_files`)
                part.unlink()
        elif counts["new_events"]:
            (seq,) = con.execute("SELECT min(event_seq) FROM lifecycle.new_events").fetchone()
            part = path.with_name(f"{creator_id}.{seq:012d}.parquet")
            atomic_write(part, lambda tmp: con.execute(
                f"COPY lifecycle.new_events TO {quote(tmp)} (FORMAT parquet, COMPRESSION zstd)"))
        files = mart_files(path)
        published = store.mart_path(LOG_TABLE, creator_id, run_id)
        for file in files:
            # The log's parts keep their names' event_seq: `fan_lifecycle_events.<seq>.parquet`.
            name = published.name if file == path else f"{LOG_TABLE}.{first_seq(file):012d}.parquet"
            atomic_write(published.with_name(name), lambda tmp, file=file: link_or_copy(file, tmp))
        total = sum(parquet_rows(con, file) for file in files)
    return Recorded(counts["stage_changes"], counts["milestones"], total, path, published)
