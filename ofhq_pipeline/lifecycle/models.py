"""The lifecycle models of one creator, and the append-only log of his fans' lifecycle events.

Every lifecycle model runs in the creator's usual DuckDB session (`Lake.session`) plus:

- `sql/lifecycle/macros.sql`: the thresholds of fan-profile.md (temperature, spend tiers,
  time-waster score, stage windows);
- `intelligence.fan_personality`: the classifier's per-fan table, `marts.fan_personality` (this
  run's, else the creator's current one), when the classifier has written one for the creator;
  else an empty relation of its shape (`sql/lifecycle/fan_personality_fallback.sql`), so the
  models bind before the classifier ever ran;
- `lifecycle.recorded_events`: the creator's lifecycle log as recorded so far (`log_path`),
  `event_seq` numbering his events in the order they were appended and `event_id` (the creator
  and that number) keying them over every creator's log.

The log is appended to, never rewritten: an evaluation at `as_of` adds the stage changes and
milestones the log does not hold yet, in one atomic file replacement under a per-creator lock,
and links the result into the run's mart folder so that publishing makes it a table of the
analysts' file. Evaluating the same `as_of` again appends nothing.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from ofhq_pipeline.resources.lake import (
    Lake,
    atomic_write,
    link_or_copy,
    parquet_rows,
    quote,
    sql_text,
)

LOG_TABLE = "fan_lifecycle_events"
# The classifier's per-fan mart (ofhq_pipeline/intelligence/store.py), read when it exists.
PERSONALITY_MART = "fan_personality"
# The intermediate models of the lifecycle, in the order they build on each other.
INTERMEDIATE_MODELS = ("fan_personality", "fan_engagement", "fan_stage")


def log_path(store: Lake, creator_id: str) -> Path:
    """lake/lifecycle/fan_lifecycle_events/<creator>.parquet: the creator's whole log."""
    return store.staging_path(LOG_TABLE, creator_id, layer="lifecycle")


def attach_lifecycle(
    con: duckdb.DuckDBPyConnection, store: Lake, creator_id: str, run_id: str | None = None
) -> None:
    """Add the lifecycle macros and the `intelligence`, `lifecycle` views to a creator session."""
    con.execute(sql_text("lifecycle/macros"))
    con.execute("CREATE SCHEMA IF NOT EXISTS intelligence")
    con.execute("CREATE SCHEMA IF NOT EXISTS lifecycle")
    # The fallback is unioned by name with the real table, so a column the classifier does not
    # (yet) write is still there, as NULL.
    personality = sql_text("lifecycle/fan_personality_fallback")
    (published,) = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE schema_name = 'marts' AND view_name = ?",
        [PERSONALITY_MART],
    ).fetchone()
    if published:
        personality += f"\nUNION ALL BY NAME SELECT * FROM marts.{PERSONALITY_MART}"
    con.execute(f"CREATE OR REPLACE VIEW intelligence.fan_personality AS {personality}")
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
    empty = sql_text("lifecycle/fan_lifecycle_events_empty")
    log = log_path(store, creator_id)
    if not log.exists():
        return empty
    source = f"read_parquet({quote(log)})"
    if not numbered_per_creator(con, log):
        return f"{empty}\nUNION ALL BY NAME SELECT * FROM {source}"
    return (
        f"{empty}\nUNION ALL BY NAME SELECT * REPLACE (creator_id || ':' || event_id AS event_id), "
        f"event_id AS event_seq FROM {source}"
    )


@contextmanager
def lifecycle_session(
    store: Lake, creator_id: str, *, as_of: datetime, run_id: str
) -> Iterator[duckdb.DuckDBPyConnection]:
    with store.session(creator_id, as_of=as_of, run_id=run_id) as con:
        attach_lifecycle(con, store, creator_id, run_id)
        yield con


def build_intermediate(
    store: Lake, table: str, creator_id: str, *, as_of: datetime, run_id: str
) -> tuple[Path, int]:
    """Run `sql/intermediate/<table>.sql` into the creator's intermediate file; (path, rows)."""
    path = store.staging_path(table, creator_id, layer="intermediate")
    with lifecycle_session(store, creator_id, as_of=as_of, run_id=run_id) as con:
        rows = store.write_model(con, f"intermediate/{table}", path)
    return path, rows


def stages_as_of(store: Lake, creator_id: str, as_of: datetime) -> dict[int, str]:
    """Every fan's stage at any instant, recomputed from the staged history alone (no file is
    written): the models from marts.transactions to intermediate.fan_stage, as views at `as_of`."""
    with store.session(creator_id, as_of=as_of) as con:
        attach_lifecycle(con, store, creator_id)
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        for model in ("marts/transactions", "intermediate/fan_money",
                      "intermediate/fan_engagement", "intermediate/fan_stage"):
            con.execute(f"CREATE OR REPLACE VIEW {model.replace('/', '.')} AS {sql_text(model)}")
        return dict(con.execute("SELECT fan_id, stage FROM intermediate.fan_stage").fetchall())


@contextmanager
def log_lock(store: Lake, creator_id: str) -> Iterator[None]:
    """One writer per creator's log at a time, whatever started the run."""
    path = log_path(store, creator_id).with_name(f".{creator_id}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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

    Needs `intermediate.fan_stage` built for the same `as_of`. The log file is only replaced when
    something is new (or it is still numbered per creator); either way the run's mart folder gets
    the current log (a hard link).
    """
    path = log_path(store, creator_id)
    with log_lock(store, creator_id), lifecycle_session(
        store, creator_id, as_of=as_of, run_id=run_id
    ) as con:
        counts = {}
        for model in ("stage_changes", "milestones"):
            con.execute(
                f"CREATE OR REPLACE TABLE lifecycle.{model} AS {sql_text(f'lifecycle/{model}')}"
            )
            (counts[model],) = con.execute(f"SELECT count(*) FROM lifecycle.{model}").fetchone()
        if (counts["stage_changes"] or counts["milestones"] or not path.exists()
                or numbered_per_creator(con, path)):
            total = store.write_model(con, f"lifecycle/{LOG_TABLE}", path)
        else:
            total = parquet_rows(con, path)
        published = store.mart_path(LOG_TABLE, creator_id, run_id)
        atomic_write(published, lambda tmp: link_or_copy(path, tmp))
    return Recorded(counts["stage_changes"], counts["milestones"], total, path, published)
