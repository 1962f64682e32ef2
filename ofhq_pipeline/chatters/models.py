"""The chatter SQL models (sql/chatters/) in one creator's DuckDB session.

`chatter_session` opens the lake's session for a creator (views raw.*, staging.*, marts.*), adds
the creator's shifts and shift problems as `chatters.shifts` / `chatters.shift_problems`, the
purchases (`marts.transactions` when it exists) as `chatters.purchases`, the classifier's
`marts.fan_preferences` (or an empty stand-in) as `chatters.fan_preferences`, and builds the
attribution tables every mart reads: `chatters.shift_segments`, `message_attribution`,
`purchase_attribution`, `fan_turns`. Thresholds are session variables, so the SQL stays one
model a file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from ofhq_pipeline.chatters.shifts import ShiftSet
from ofhq_pipeline.lake import Lake, quote, sql_text

ATTRIBUTION_MODELS = ("shift_segments", "message_attribution", "purchase_attribution", "fan_turns")
KPI_MARTS = ("chatter_performance_daily", "chatter_shift_performance", "chatter_shift_issues")
# Outside a run, only the creator's current marts are visible (no run folder has this name).
CURRENT_MARTS_ONLY = "_current_marts_only"

@dataclass(frozen=True)
class KpiSettings:
    tip_window_minutes: int = 30  # a tip within this long after a chatter's message is his
    wait_minutes: int = 60  # a fan waiting longer than this for an answer was left waiting


def prepare(
    con: duckdb.DuckDBPyConnection,
    shift_set: ShiftSet,
    settings: KpiSettings = KpiSettings(),
    *,
    since: datetime | None = None,
    models: tuple[str, ...] = ATTRIBUTION_MODELS,
) -> None:
    """Shifts, purchases, preferences and the attribution tables, in an open lake session.

    `since` limits attribution to messages and purchases from then on (QA reads a few days);
    `models` the attribution tables built (in order)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS chatters")
    con.execute(sql_text("chatters/kpi_columns"))  # the KPI marts' shared column list
    con.register("_chatter_shifts", shift_set.shifts)
    con.register("_chatter_shift_problems", shift_set.problems)
    con.execute("CREATE OR REPLACE VIEW chatters.shifts AS SELECT * FROM _chatter_shifts")
    con.execute(
        "CREATE OR REPLACE VIEW chatters.shift_problems AS SELECT * FROM _chatter_shift_problems"
    )
    con.execute("SET VARIABLE chatter_tip_window_minutes = ?", [settings.tip_window_minutes])
    con.execute("SET VARIABLE chatter_wait_minutes = ?", [settings.wait_minutes])
    if since is not None:
        con.execute("SET VARIABLE chatter_since = CAST(? AS TIMESTAMPTZ)", [since.isoformat()])
    # The session reads a mart not built yet as an empty table of its shape.
    con.execute(
        "CREATE OR REPLACE VIEW chatters.purchases AS SELECT transaction_id, fan_id, created_at, "
        "type, amount_cents FROM marts.transactions WHERE is_purchase AND created_at <= as_of()"
    )
    con.execute("CREATE OR REPLACE VIEW chatters.fan_preferences AS "
                "SELECT fan_id, tone_preference FROM marts.fan_preferences")
    for model in models:  # tables: every mart reads them, built once
        con.execute(
            f"CREATE OR REPLACE TABLE chatters.{model} AS {sql_text(f'chatters/{model}')}"
        )


@contextmanager
def chatter_session(
    lake: Lake,
    creator_id: str,
    shift_set: ShiftSet,
    *,
    as_of: datetime,
    run_id: str | None = None,
    settings: KpiSettings = KpiSettings(),
    since: datetime | None = None,
    models: tuple[str, ...] = ATTRIBUTION_MODELS,
) -> Iterator[duckdb.DuckDBPyConnection]:
    with lake.session(creator_id, as_of=as_of, run_id=run_id or CURRENT_MARTS_ONLY) as con:
        prepare(con, shift_set, settings, since=since, models=models)
        yield con


def write_kpi_marts(
    lake: Lake, con: duckdb.DuckDBPyConnection, creator_id: str, run_id: str
) -> dict[str, tuple[Path, int]]:
    """The three KPI marts into the run's mart folder; their paths and row counts."""
    written = {}
    for table in KPI_MARTS:
        path = lake.mart_path(table, creator_id, run_id)
        written[table] = (path, lake.write_model(con, f"chatters/{table}", path))
    return written


@dataclass(frozen=True)
class AttributionSummary:
    creator_messages: int
    attributed: int
    in_gaps: int
    in_overlaps: int
    mass_messages: int
    purchases: int
    purchases_unattributed: int
    shifts: int
    overlaps: int
    self_overlaps: int
    gaps: int
    invalid_shifts: int

    @property
    def attributed_share(self) -> float | None:
        return self.attributed / self.creator_messages if self.creator_messages else None


def attribution_summary(con: duckdb.DuckDBPyConnection, issues_path: Path) -> AttributionSummary:
    """Counts for the asset's metadata and checks (personal creator messages; PPV unlocks)."""
    messages = con.execute(
        "SELECT count(*) FILTER (WHERE NOT is_mass_message), "
        "count(*) FILTER (WHERE NOT is_mass_message AND attribution = 'shift'), "
        "count(*) FILTER (WHERE NOT is_mass_message AND attribution = 'gap'), "
        "count(*) FILTER (WHERE NOT is_mass_message AND attribution = 'overlap'), "
        "count(*) FILTER (WHERE is_mass_message) "
        "FROM chatters.message_attribution WHERE NOT is_from_fan"
    ).fetchone()
    purchases = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE chatter IS NULL) "
        "FROM chatters.purchase_attribution WHERE type = 'message'"
    ).fetchone()
    (shifts,) = con.execute("SELECT count(*) FROM chatters.shifts").fetchone()
    kinds = dict(con.execute(
        f"SELECT kind, count(*) FROM read_parquet({quote(issues_path)}) GROUP BY kind"
    ).fetchall())
    return AttributionSummary(
        *messages, *purchases, shifts, kinds.get("overlap", 0), kinds.get("self_overlap", 0),
        kinds.get("gap", 0), kinds.get("invalid_shift", 0),
    )
