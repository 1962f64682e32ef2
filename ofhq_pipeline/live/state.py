"""Live state: what the live page shows and the hot path alerts on, the moment an event lands.

It starts from the last published snapshot (the analysts' file) and applies the webhook events
landed since, with the pipeline's own SQL models rather than a second definition of money:

- the landed events go through `sql/staging/cast_rejects.sql` and `sql/staging/transactions.sql`
  as the real-time run's raw batch would (every landed sighting of a transaction it touched,
  so the latest-sighting and forward-only status rules hold);
- `sql/live/transactions.sql` lays them over the snapshot's transactions;
- `sql/marts/transactions.sql`, `sql/marts/creator_revenue_daily.sql` and
  `sql/intermediate/fan_money.sql` then give today's revenue of each creator and each touched
  fan's spend, latest purchase and price range, `temperature` his temperature;
- `sql/realtime/alerts.sql` says which alerts the new events call for.

The Dagster real-time run stays the source of truth: when it publishes, the snapshot is read
again and the page shows the marts. Everything is in memory, in one DuckDB connection used by
one thread (the hot path's); readers take `view()`, a plain dict.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from ofhq_pipeline.lake import (
    MACRO_FILES,
    RAW_TABLES,
    empty_select,
    file_version,
    quote,
    raw_frame,
    raw_select,
    sql_text,
)
from ofhq_pipeline.realtime.alerts import Candidate
from ofhq_pipeline.realtime.landing import LandedEvent
from ofhq_pipeline.source.contract import is_creator_id
from ofhq_pipeline.warehouse.publish import marts_schema

# How long landed events are kept for restaging: longer than a real-time run takes to publish
# them, so the snapshot holds them by the time they are dropped.
KEEP = timedelta(hours=48)
RECENT_PURCHASES = 50
# The fan profile's columns the live fans read from the snapshot.
SNAPSHOT_FAN_COLUMNS = ["creator_id", "fan_id", "name", "username", "last_fan_message_at",
                        "temperature"]
SNAPSHOT_FAN_TYPES = {"creator_id": "VARCHAR", "fan_id": "BIGINT", "name": "VARCHAR",
                      "username": "VARCHAR", "last_fan_message_at": "TIMESTAMPTZ",
                      "temperature": "VARCHAR"}


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Applied:
    """What one batch of landed events changed."""

    events: int
    creators: tuple[str, ...]
    purchases: int
    candidates: dict[str, list[Candidate]]  # per creator: the alerts its new events call for


class LiveState:
    def __init__(
        self,
        analysts_file: Path,
        *,
        alert_window_hours: int = 24,
        tip_threshold_cents: int = 5_000,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.analysts_file = analysts_file
        self.now = now
        self.con = duckdb.connect(config={"threads": 1})
        self.con.execute("SET TimeZone = 'UTC'")
        for macros in MACRO_FILES:
            self.con.execute(sql_text(macros))
        self.con.execute("SET VARIABLE alert_window_hours = ?", [alert_window_hours])
        self.con.execute("SET VARIABLE tip_threshold_cents = ?", [tip_threshold_cents])
        self._snapshot_key: tuple[int, int] | None = None
        self._today: str | None = None
        self.published_at: datetime | None = None
        self.events_applied = 0
        self.purchases: deque[dict[str, Any]] = deque(maxlen=RECENT_PURCHASES)
        self.revenue_today: dict[str, dict[str, Any]] = {}
        self.temperature_moves: dict[str, dict[str, int]] = {}
        self._create_tables()
        self.refresh_snapshot()

    # ---- set-up -----------------------------------------------------------------------------
    def _create_tables(self) -> None:
        run = self.con.execute
        for schema in ("raw", "staging", "intermediate", "marts", "live"):
            run(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for table in RAW_TABLES:
            if table != "webhook_events":  # a webhook carries nothing of the other feeds
                run(f"CREATE VIEW raw.{table} AS {raw_select(table, [])}")
        # Every landed event kept (KEEP), in the raw shape, with the transaction it names.
        run(f"CREATE TABLE live.landed_events AS SELECT *, CAST(NULL AS VARCHAR) AS txn_id "
            f"FROM ({raw_select('webhook_events', [])})")
        run(f"CREATE TABLE live.batch_events AS {raw_select('webhook_events', [])}")
        self._view("raw.webhook_events", "SELECT * FROM live.batch_events")
        run(f"CREATE TABLE live.landed AS {empty_select('staging/transactions')}")
        run("CREATE TABLE live.snapshot_today AS SELECT * FROM live.landed")
        run("CREATE TABLE live.snapshot_fan_transactions AS SELECT * FROM live.landed")
        columns = ", ".join(f"CAST(NULL AS {SNAPSHOT_FAN_TYPES[c]}) AS {c}"
                            for c in SNAPSHOT_FAN_COLUMNS)
        run(f"CREATE TABLE live.snapshot_fans AS SELECT {columns} WHERE false")
        run("CREATE TABLE live.touched AS SELECT creator_id, fan_id FROM live.landed")
        # What landed of the fans' messages and subscriptions: a fan's last message moves his
        # temperature; a new subscriber is a fan before the snapshot knows him.
        run("CREATE TABLE live.landed_messages (creator_id VARCHAR, fan_id BIGINT, "
            "message_id BIGINT, created_at TIMESTAMPTZ, is_from_fan BOOLEAN, "
            "fetched_at TIMESTAMPTZ)")
        run("CREATE TABLE live.landed_fans (creator_id VARCHAR, fan_id BIGINT, name VARCHAR, "
            "username VARCHAR, fetched_at TIMESTAMPTZ)")
        for model in ("staging/messages", "staging/subscription_periods"):
            run(f"CREATE VIEW {model.replace('/', '.')} AS {empty_select(model)}")
        run(f"CREATE VIEW staging.cast_rejects AS {sql_text('staging/cast_rejects')}")

    def _view(self, name: str, select: str) -> None:
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS {select}")

    def _set_as_of(self) -> datetime:
        now = self.now()
        self.con.execute("SET VARIABLE as_of = CAST(? AS TIMESTAMPTZ)", [now.isoformat()])
        return now

    # ---- the snapshot -----------------------------------------------------------------------
    def refresh_snapshot(self) -> bool:
        """Read the analysts' file again if it was published since (it is replaced whole, by
        rename), or if the UTC day turned; True when anything was read."""
        now = self._set_as_of()
        key = file_version(self.analysts_file)
        today = now.date().isoformat()
        if key == self._snapshot_key and today == self._today and key is not None:
            return False
        self._snapshot_key, self._today = key, today
        self.con.execute("DELETE FROM live.snapshot_today")
        if key is not None:
            with self._snapshot() as snap:
                if snap.has("transactions"):
                    self.con.execute(
                        f"INSERT INTO live.snapshot_today BY NAME SELECT * FROM "
                        f"{snap['transactions']} WHERE created_at >= CAST(? AS TIMESTAMPTZ)",
                        [f"{today}T00:00:00+00:00"])
                self.published_at = snap.published_at()
        self._forget_old_events(now)
        self._refresh_fans(self._all_touched(), reread=True)
        self._refresh_revenue()
        return True

    def _snapshot(self) -> _Snapshot:
        return _Snapshot(self.con, self.analysts_file)

    def _forget_old_events(self, now: datetime) -> None:
        self.con.execute("DELETE FROM live.landed_events WHERE fetched_at < CAST(? AS TIMESTAMPTZ)",
                         [(now - KEEP).isoformat()])
        self.con.execute("DELETE FROM live.landed WHERE transaction_id NOT IN "
                         "(SELECT txn_id FROM live.landed_events WHERE txn_id IS NOT NULL)")
        for table in ("live.landed_messages", "live.landed_fans"):
            self.con.execute(f"DELETE FROM {table} WHERE fetched_at < CAST(? AS TIMESTAMPTZ)",
                             [(now - KEEP).isoformat()])
        self.con.execute("DELETE FROM live.touched WHERE (creator_id, fan_id) NOT IN "
                         "(SELECT (creator_id, fan_id) FROM live.landed UNION "
                         "SELECT (creator_id, fan_id) FROM live.landed_messages UNION "
                         "SELECT (creator_id, fan_id) FROM live.landed_fans)")

    def _all_touched(self) -> list[tuple[str, int]]:
        return self.con.execute("SELECT creator_id, fan_id FROM live.touched").fetchall()

    # ---- applying events --------------------------------------------------------------------
    def apply(self, events: Sequence[LandedEvent]) -> Applied:
        """Apply landed events (in landing order); returns what they changed."""
        self.refresh_snapshot()
        now = self._set_as_of()
        events = [e for e in events if is_creator_id(e.account_id)]
        if not events:
            return Applied(0, (), 0, {})
        batch = raw_frame(
            [json.loads(e.body).get("payload") for e in events],
            [e.account_id for e in events],
            fetched_at=[e.received_at for e in events],
            sync_mode="webhook",
            extra={"event": [e.event for e in events], "event_id": [e.id for e in events],
                   "occurred_at": [e.occurred_at for e in events]},
        )
        run = self.con.execute
        run("DELETE FROM live.batch_events")
        self.con.register("_batch", batch)
        run("INSERT INTO live.batch_events BY NAME SELECT * FROM _batch")
        self.con.unregister("_batch")
        run("INSERT INTO live.landed_events BY NAME SELECT *, "
            "CASE WHEN event = 'transactions.new' THEN payload ->> '$.id' END AS txn_id "
            "FROM live.batch_events")
        # Restage every landed sighting of the transactions this batch names.
        self._view("raw.webhook_events",
                   "SELECT * EXCLUDE (txn_id) FROM live.landed_events WHERE txn_id IN "
                   "(SELECT payload ->> '$.id' FROM live.batch_events "
                   "WHERE event = 'transactions.new')")
        run(f"CREATE OR REPLACE TEMP TABLE staged AS {sql_text('staging/transactions')}")
        run("DELETE FROM live.landed WHERE transaction_id IN (SELECT transaction_id FROM staged)")
        run("INSERT INTO live.landed BY NAME SELECT * FROM staged")
        # The batch's messages and subscribers, staged by their own models.
        self._view("raw.webhook_events", "SELECT * FROM live.batch_events")
        run(f"INSERT INTO live.landed_messages SELECT creator_id, fan_id, message_id, "
            f"created_at, is_from_fan, CAST(? AS TIMESTAMPTZ) "
            f"FROM ({sql_text('staging/messages')}) WHERE fan_id IS NOT NULL",
            [now.isoformat()])
        run(f"INSERT INTO live.landed_fans SELECT creator_id, fan_id, name, username, "
            f"CAST(? AS TIMESTAMPTZ) FROM ({sql_text('staging/fans')}) WHERE fan_id IS NOT NULL",
            [now.isoformat()])
        batch_fans = ("SELECT creator_id, fan_id FROM staged UNION "
                      "SELECT creator_id, fan_id FROM live.landed_messages "
                      "WHERE fetched_at = CAST(as_of() AS TIMESTAMPTZ) UNION "
                      "SELECT creator_id, fan_id FROM live.landed_fans "
                      "WHERE fetched_at = CAST(as_of() AS TIMESTAMPTZ)")
        touched = run(f"SELECT DISTINCT creator_id, fan_id FROM ({batch_fans}) "
                      f"WHERE fan_id IS NOT NULL").fetchall()
        run(f"INSERT INTO live.touched SELECT DISTINCT * FROM ({batch_fans}) "
            f"WHERE fan_id IS NOT NULL EXCEPT SELECT * FROM live.touched")
        self._refresh_fans(touched)
        self._refresh_revenue()
        purchases = self._record_purchases(now)
        # The touched fans' transactions, once for every creator's alerts (revenue replaced them).
        self._merged("live.snapshot_fan_transactions",
                     "(creator_id, fan_id) IN (SELECT (creator_id, fan_id) FROM live.touched)")
        candidates = {creator: self._alerts(creator)
                      for creator in sorted({e.account_id for e in events})}
        self.events_applied += len(events)
        return Applied(len(events), tuple(candidates), purchases, candidates)

    def _merged(self, snapshot: str, landed_where: str) -> None:
        """staging.transactions and marts.transactions: the snapshot's rows (`snapshot`) with
        the landed ones (`landed_where`) laid over them, as of now."""
        self._view("live.snapshot_transactions", f"SELECT * FROM {snapshot}")
        self._view("live.landed_transactions", f"SELECT * FROM live.landed WHERE {landed_where}")
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE merged AS {sql_text('live/transactions')}")
        self._view("staging.transactions", "SELECT * FROM merged")
        self._view("marts.transactions", sql_text("marts/transactions"))

    def _refresh_fans(self, touched: Iterable[tuple[str, int]], *, reread: bool = False) -> None:
        """Each touched fan as the marts will show him, from his snapshot rows and landed
        transactions. `touched` are the fans whose snapshot rows are read now (`reread`: every
        fan's, the snapshot having changed); the others' were read before."""
        touched = list(touched)
        run = self.con.execute
        if reread:
            run("DELETE FROM live.snapshot_fan_transactions")
            run("DELETE FROM live.snapshot_fans")
        if touched and self._snapshot_key is not None:
            self.con.register("_touched", _pairs(touched))
            for table in ("live.snapshot_fan_transactions", "live.snapshot_fans"):
                run(f"DELETE FROM {table} WHERE (creator_id, fan_id) IN "
                    f"(SELECT (creator_id, fan_id) FROM _touched)")
            with self._snapshot() as snap:
                if snap.has("transactions"):
                    run(f"INSERT INTO live.snapshot_fan_transactions BY NAME SELECT t.* FROM "
                        f"{snap['transactions']} AS t SEMI JOIN _touched USING (creator_id, fan_id)")
                if snap.has("fan_profile"):
                    run(f"INSERT INTO live.snapshot_fans BY NAME SELECT "
                        f"{', '.join('p.' + c for c in SNAPSHOT_FAN_COLUMNS)} FROM "
                        f"{snap['fan_profile']} AS p SEMI JOIN _touched USING (creator_id, fan_id)")
            self.con.unregister("_touched")
        self._merged("live.snapshot_fan_transactions",
                     "(creator_id, fan_id) IN (SELECT (creator_id, fan_id) FROM live.touched)")
        run(f"CREATE OR REPLACE TABLE live.fan_money AS {sql_text('intermediate/fan_money')}")
        run(f"CREATE OR REPLACE TABLE live.fans AS {sql_text('live/fans')}")
        moves = run("SELECT creator_id, published_temperature, temperature, count(*) "
                    "FROM live.fans WHERE published_temperature IS DISTINCT FROM temperature "
                    "GROUP BY ALL").fetchall()
        self.temperature_moves = {}
        for creator, before, after, n in moves:
            shift = self.temperature_moves.setdefault(creator, {})
            if before is not None:
                shift[before] = shift.get(before, 0) - n
            shift[after] = shift.get(after, 0) + n

    def _refresh_revenue(self) -> None:
        """Today's row of creator_revenue_daily for every creator with money today."""
        self._merged("live.snapshot_today",
                     "created_at >= CAST(CAST(as_of() AS DATE) AS TIMESTAMPTZ)")
        rows = self.con.execute(
            f"SELECT * FROM ({sql_text('marts/creator_revenue_daily')}) "
            f"WHERE day = CAST(as_of() AS DATE)").pl().to_dicts()
        self.revenue_today = {row["creator_id"]: _plain(row) for row in rows}

    def _record_purchases(self, now: datetime) -> int:
        """The batch's purchases for the page's feed; the fan as published, else as the event
        names him (a fan first seen in this event has no profile yet)."""
        rows = self.con.execute(
            "SELECT s.creator_id, s.transaction_id, s.fan_id, "
            "coalesce(f.name, f.username, e.name, e.username) AS fan, "
            "s.type, s.amount_cents, s.created_at, f.lifetime_spend_cents, f.price_range, "
            "f.temperature "
            "FROM staged AS s LEFT JOIN live.fans AS f USING (creator_id, fan_id) "
            "LEFT JOIN (SELECT DISTINCT ON (creator_id, payload ->> '$.id') creator_id, "
            "           payload ->> '$.id' AS transaction_id, "
            "           coalesce(payload ->> '$.user.name', payload ->> '$.fan.name') AS name, "
            "           coalesce(payload ->> '$.user.username', payload ->> '$.fan.username') "
            "               AS username "
            "           FROM live.batch_events WHERE event = 'transactions.new') AS e "
            "     USING (creator_id, transaction_id) "
            "WHERE s.status = 'succeeded' AND s.amount_cents > 0 "
            "AND s.created_at <= CAST(as_of() AS TIMESTAMPTZ) "
            "ORDER BY s.created_at, s.transaction_id").pl().to_dicts()
        for row in rows:
            self.purchases.appendleft({**_plain(row), "seen_at": now.isoformat()})
        return len(rows)

    def _alerts(self, creator_id: str) -> list[Candidate]:
        """sql/realtime/alerts.sql over this creator's new events and touched fans (their
        transactions in `merged`)."""
        self.con.execute("SET VARIABLE creator_id = ?", [creator_id])
        self._view("raw.webhook_events",
                   "SELECT * FROM live.batch_events WHERE creator_id = getvariable('creator_id')")
        self._view("staging.transactions",
                   "SELECT * FROM merged WHERE creator_id = getvariable('creator_id')")
        self._view("marts.transactions", sql_text("marts/transactions"))
        self._view("marts.fan_profile",
                   "SELECT * FROM live.fans WHERE creator_id = getvariable('creator_id')")
        return [tuple(row) for row in self.con.execute(sql_text("realtime/alerts")).fetchall()]

    # ---- what readers see -------------------------------------------------------------------
    def view(self) -> dict[str, Any]:
        """Everything the page shows live, for every creator; the page filters it by role."""
        return {
            "as_of": self.now().isoformat(),
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "events_applied": self.events_applied,
            "revenue_today": dict(self.revenue_today),
            "temperature_moves": {c: dict(m) for c, m in self.temperature_moves.items()},
            "purchases": list(self.purchases),
        }

    def fans(self) -> list[dict[str, Any]]:
        """The touched fans as they stand now (for tests and the bench)."""
        return [_plain(row) for row in
                self.con.execute("SELECT * FROM live.fans ORDER BY ALL").pl().to_dicts()]

    def close(self) -> None:
        self.con.close()


class _Snapshot:
    """The analysts' file attached read-only for the length of a `with`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.con, self.path = con, path
        self.tables: set[str] = set()

    def __enter__(self) -> _Snapshot:
        self.con.execute(f"ATTACH {quote(self.path)} AS snap (READ_ONLY)")
        # `snap.marts` names the analysts' tables whatever the file is called (publish.py's
        # marts_schema puts them in `main` of a file named marts.duckdb).
        self.schema = marts_schema(self.path)
        self.tables = {name for (name,) in self.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'snap' "
            "AND schema_name = ?", [self.schema]).fetchall()}
        return self

    def __exit__(self, *_exc: object) -> None:
        self.con.execute("DETACH snap")

    def has(self, table: str) -> bool:
        return table in self.tables

    def __getitem__(self, table: str) -> str:
        """The qualified name of one of the analysts' tables."""
        return f"snap.{self.schema}.{table}"

    def published_at(self) -> datetime | None:
        if not self.has("system_stats"):
            return None
        return self.con.execute(f"SELECT max(refreshed_at) FROM {self['system_stats']}").fetchone()[0]


def _pairs(touched: list[tuple[str, int]]):
    import polars as pl

    return pl.DataFrame({"creator_id": [c for c, _ in touched], "fan_id": [f for _, f in touched]},
                        schema={"creator_id": pl.String, "fan_id": pl.Int64})


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready values: instants and days as ISO text, decimals as float."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if hasattr(value, "isoformat"):
            out[key] = value.isoformat()
        elif isinstance(value, Decimal):
            out[key] = float(value)
        else:
            out[key] = value
    return out
