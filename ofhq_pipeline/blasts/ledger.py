"""The blast ledger: every blast and every (blast, fan), recorded before anything is sent.

Two tables in the landing store's database (OFHQ_LANDING_URL, SQLite under OFHQ_HOME by
default), the other record of what the pipeline did to the outside world beside `alerts_sent`:

- `blasts`: one row per confirmed blast of a creator, with the parameters it was planned with
  (a digest of them refuses a second run of the same blast id with other parameters).
- `blast_recipients`: one row per blast and fan of the segment when the blast was planned: the
  fans to send (`cohort = 'send'`), the random holdout, never sent (`holdout`), and the fans left
  out with the reason (`excluded`). The audience is frozen here: a re-run sends to these rows,
  never to a segment recomputed since.

A sent fan moves `planned → sending → queued → sent | failed`, a chunk (one API request) at a
time: `sending` is committed before the request leaves, `queued` (with the API's queue id) after
it answered, `sent` / `failed` (with the API's reason) once the queue item reports its
recipients. A run that dies between `sending` and `queued` leaves the chunk `sending`; the next
run reconciles it with the API's queue before sending anything (blasts/send.py), so a fan is
never sent twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from ofhq_pipeline.realtime.landing import (
    as_utc,
    create_landing_engine,
    landing_url,
    landing_url_from_env,
)

metadata = sa.MetaData()

blasts = sa.Table(
    "blasts",
    metadata,
    sa.Column("creator_id", sa.Text, primary_key=True),
    sa.Column("blast_id", sa.Text, primary_key=True),
    sa.Column("segment", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("media_ids", sa.Text, nullable=False),  # a JSON list of vault media ids
    sa.Column("price_mode", sa.Text, nullable=False),  # 'fixed' | 'recommended'
    sa.Column("price_cents", sa.BigInteger),  # the fixed price; NULL when recommended
    sa.Column("send_at", sa.Text, nullable=False),  # 'now' | 'best' | an ISO instant
    sa.Column("holdout_share", sa.Float, nullable=False),
    sa.Column("recent_mass_message_hours", sa.Integer, nullable=False),
    sa.Column("include_expired", sa.Boolean, nullable=False),
    sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("parameters_sha256", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
)

blast_recipients = sa.Table(
    "blast_recipients",
    metadata,
    sa.Column("creator_id", sa.Text, primary_key=True),
    sa.Column("blast_id", sa.Text, primary_key=True),
    sa.Column("fan_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("cohort", sa.Text, nullable=False),  # 'send' | 'holdout' | 'excluded'
    sa.Column("reason", sa.Text),
    sa.Column("price_cents", sa.BigInteger),
    sa.Column("price_basis", sa.Text),
    sa.Column("scheduled_at", sa.DateTime(timezone=True)),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("chunk_no", sa.Integer),
    sa.Column("queue_id", sa.BigInteger),
    sa.Column("failure_reason", sa.Text),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_blast_recipients_chunk", "creator_id", "blast_id", "chunk_no"),
)

# What a sent fan's row may say, in order; `held_out` and `excluded` rows never move.
SEND_STATES = ("planned", "sending", "queued", "sent", "failed")
# Rows that may still be sent (a `sending` chunk first needs reconciling with the API's queue).
OPEN_STATES = ("planned", "sending")
# The columns of `ledger.blast_recipients` as the marts read it (sql/marts/blast_recipients.sql).
RECIPIENT_COLUMNS = ("blast_id", "creator_id", "fan_id", "cohort", "reason", "price_cents",
                     "price_basis", "scheduled_at", "state", "chunk_no", "queue_id",
                     "failure_reason", "sent_at", "updated_at")


class BlastConflict(ValueError):
    """A blast id already planned with other parameters: a re-run must repeat the original."""


@dataclass(frozen=True)
class Blast:
    """One blast of one creator, as planned."""

    creator_id: str
    blast_id: str
    segment: str
    text: str
    media_ids: tuple[int, ...]
    price_mode: str
    price_cents: int | None
    send_at: str
    holdout_share: float
    recent_mass_message_hours: int
    include_expired: bool
    planned_at: datetime
    parameters_sha256: str
    run_id: str

    def row(self) -> dict:
        row = {column.name: getattr(self, column.name) for column in blasts.columns}
        row["media_ids"] = json.dumps(list(self.media_ids))
        return row

    @classmethod
    def from_row(cls, row: sa.Row) -> Blast:
        values = dict(row._mapping)
        values["media_ids"] = tuple(json.loads(values["media_ids"]))
        values["planned_at"] = as_utc(values["planned_at"])
        return cls(**values)


@dataclass(frozen=True)
class Chunk:
    """The fans of one API request: one price, one delivery time, at most the API's maximum."""

    chunk_no: int
    state: str  # 'planned' or 'sending'
    price_cents: int
    scheduled_at: datetime | None
    fan_ids: tuple[int, ...]


@dataclass(frozen=True)
class Outcome:
    """What the API reported for one recipient of a queue item."""

    fan_id: int
    status: str  # 'sent' | 'failed' | 'pending'
    reason: str | None = None


def now() -> datetime:
    return datetime.now(UTC)


class BlastLedger:
    """The ledger at `url` (the landing store's database by default)."""

    def __init__(self, url: str | URL | None = None) -> None:
        self.url = landing_url(url or landing_url_from_env())
        self.engine = create_landing_engine(self.url)
        metadata.create_all(self.engine, checkfirst=True)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> BlastLedger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _recipients(self, blast: Blast) -> sa.ColumnElement[bool]:
        return sa.and_(blast_recipients.c.creator_id == blast.creator_id,
                       blast_recipients.c.blast_id == blast.blast_id)

    # ---- planning ------------------------------------------------------------------------------
    def blast(self, creator_id: str, blast_id: str) -> Blast | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(blasts).where(
                blasts.c.creator_id == creator_id, blasts.c.blast_id == blast_id)).first()
        return None if row is None else Blast.from_row(row)

    def recorded(self, blast: Blast) -> Blast | None:
        """The blast as recorded when it was planned (None: never), or `BlastConflict` when it
        was planned with other parameters than `blast`'s."""
        known = self.blast(blast.creator_id, blast.blast_id)
        if known is not None and known.parameters_sha256 != blast.parameters_sha256:
            raise BlastConflict(
                f"blast {blast.blast_id!r} of creator {blast.creator_id} was planned with "
                "other parameters (segment, text, media, price or time); a re-run must "
                "repeat them, a new blast needs a new id")
        return known

    def record_plan(self, blast: Blast, recipients: pl.DataFrame) -> bool:
        """The blast and every recipient row, in one transaction; False (nothing written) when
        the blast was recorded before with the same parameters, `BlastConflict` when with other
        ones. `recipients` has fan_id, cohort, reason, price_cents, price_basis, scheduled_at,
        chunk_no."""
        if self.recorded(blast) is not None:
            return False
        stamped = now()
        rows = recipients.with_columns(
            pl.lit(blast.creator_id).alias("creator_id"),
            pl.lit(blast.blast_id).alias("blast_id"),
            pl.when(pl.col("cohort") == "send").then(pl.lit("planned"))
            .when(pl.col("cohort") == "holdout").then(pl.lit("held_out"))
            .otherwise(pl.lit("excluded")).alias("state"),
        ).to_dicts()
        for row in rows:
            row["updated_at"] = stamped
        with self._write() as conn:
            conn.execute(blasts.insert().values(blast.row()))
            for part in _batches(rows, 5_000):
                conn.execute(blast_recipients.insert(), part)
        return True

    # ---- sending -------------------------------------------------------------------------------
    def open_chunks(self, blast: Blast) -> list[Chunk]:
        """The chunks not yet taken by the API, in order: `sending` ones (to reconcile) first."""
        query = (sa.select(blast_recipients.c.chunk_no, blast_recipients.c.state,
                           blast_recipients.c.price_cents, blast_recipients.c.scheduled_at,
                           blast_recipients.c.fan_id)
                 .where(self._recipients(blast), blast_recipients.c.state.in_(OPEN_STATES))
                 .order_by(blast_recipients.c.chunk_no, blast_recipients.c.fan_id))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        chunks: dict[int, list] = {}
        for row in rows:
            chunks.setdefault(row.chunk_no, []).append(row)
        found = [Chunk(no, rows[0].state, int(rows[0].price_cents or 0),
                       as_utc(rows[0].scheduled_at), tuple(int(r.fan_id) for r in rows))
                 for no, rows in chunks.items()]
        return sorted(found, key=lambda c: (c.state != "sending", c.chunk_no))

    def set_chunk(self, blast: Blast, chunk_no: int, state: str, *, from_states: Iterable[str],
                  queue_id: int | None = None) -> int:
        """Move a chunk's rows that are in `from_states` to `state` (with the queue id)."""
        values: dict = {"state": state, "updated_at": now()}
        if queue_id is not None:
            values["queue_id"] = queue_id
        with self._write() as conn:
            return conn.execute(
                blast_recipients.update()
                .where(self._recipients(blast), blast_recipients.c.chunk_no == chunk_no,
                       blast_recipients.c.state.in_(tuple(from_states)))
                .values(**values)).rowcount

    def queue_ids(self, creator_id: str) -> set[int]:
        """Every queue id any blast of the creator was matched to (reconciling never takes one
        twice)."""
        with self.engine.connect() as conn:
            return {int(q) for (q,) in conn.execute(
                sa.select(blast_recipients.c.queue_id).distinct().where(
                    blast_recipients.c.creator_id == creator_id,
                    blast_recipients.c.queue_id.is_not(None)))}

    def queued(self, blast: Blast) -> list[int]:
        """Queue ids of the blast with recipients the API has not reported on yet."""
        with self.engine.connect() as conn:
            return sorted(int(q) for (q,) in conn.execute(
                sa.select(blast_recipients.c.queue_id).distinct().where(
                    self._recipients(blast), blast_recipients.c.state == "queued")))

    def record_outcomes(self, blast: Blast, queue_id: int, delivered_at: datetime | None,
                        outcomes: Iterable[Outcome]) -> dict[str, int]:
        """The API's report on a queue item's recipients: sent (at `delivered_at`) or failed
        with its reason; pending ones stay queued. Returns the counts written."""
        failed = [o for o in outcomes if o.status == "failed"]
        sent = [o.fan_id for o in outcomes if o.status == "sent"]
        stamped = now()
        where = sa.and_(self._recipients(blast), blast_recipients.c.queue_id == queue_id,
                        blast_recipients.c.state == "queued")
        with self._write() as conn:
            for outcome in failed:
                conn.execute(blast_recipients.update().where(
                    where, blast_recipients.c.fan_id == outcome.fan_id).values(
                    state="failed", failure_reason=(outcome.reason or "failed")[:500],
                    updated_at=stamped))
            for part in _batches(sent, 900):
                conn.execute(blast_recipients.update().where(
                    where, blast_recipients.c.fan_id.in_(part)).values(
                    state="sent", sent_at=delivered_at, updated_at=stamped))
        return {"sent": len(sent), "failed": len(failed)}

    def awaiting_outcomes(self, now: datetime) -> list[Blast]:
        """Blasts with sends the API took whose delivery time has come (or was at once) and
        whose outcome is not read back yet: a resumed run reads them."""
        due = (sa.select(blast_recipients.c.creator_id, blast_recipients.c.blast_id).distinct()
               .where(blast_recipients.c.state == "queued",
                      sa.or_(blast_recipients.c.scheduled_at.is_(None),
                             blast_recipients.c.scheduled_at <= now))
               .subquery())
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(blasts).join(due, sa.and_(
                due.c.creator_id == blasts.c.creator_id, due.c.blast_id == blasts.c.blast_id))
                .order_by(blasts.c.creator_id, blasts.c.blast_id)).all()
        return [Blast.from_row(row) for row in rows]

    # ---- reading -------------------------------------------------------------------------------
    def counts(self, blast: Blast) -> dict[str, int]:
        """Recipient rows per state."""
        with self.engine.connect() as conn:
            return {state: int(n) for state, n in conn.execute(
                sa.select(blast_recipients.c.state, sa.func.count())
                .where(self._recipients(blast)).group_by(blast_recipients.c.state))}

    def recent_sends(self, creator_id: str, since: datetime, *, other_than: str) -> pl.DataFrame:
        """Fans of the creator another blast sent to (or queued for) since `since`."""
        when = sa.func.coalesce(blast_recipients.c.sent_at, blast_recipients.c.scheduled_at,
                                blast_recipients.c.updated_at)
        query = (sa.select(blast_recipients.c.fan_id, sa.func.max(when).label("sent_at"))
                 .where(blast_recipients.c.creator_id == creator_id,
                        blast_recipients.c.blast_id != other_than,
                        blast_recipients.c.state.in_(("sending", "queued", "sent")),
                        when >= since)
                 .group_by(blast_recipients.c.fan_id))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return pl.DataFrame({"fan_id": [int(r.fan_id) for r in rows],
                             "sent_at": [as_utc(r.sent_at) for r in rows]},
                            schema={"fan_id": pl.Int64, "sent_at": pl.Datetime("us", "UTC")})

    def frames(self, creator_id: str, blast_id: str | None = None
               ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The creator's blasts (or one) and their recipient rows, as the marts read them (the
        lake's copy: blasts/mirror.py), read set-wise (a big blast has 100,000 rows)."""
        blast_rows = blasts.c.creator_id == creator_id
        recipient_rows = blast_recipients.c.creator_id == creator_id
        if blast_id is not None:
            blast_rows &= blasts.c.blast_id == blast_id
            recipient_rows &= blast_recipients.c.blast_id == blast_id
        with self.engine.connect() as conn:
            planned = [Blast.from_row(r) for r in conn.execute(
                sa.select(blasts).where(blast_rows))]
            recipients = pl.read_database(
                sa.select(*(blast_recipients.c[c] for c in RECIPIENT_COLUMNS))
                .where(recipient_rows), conn,
                schema_overrides={c: t for c, t in RECIPIENT_SCHEMA.items() if t != TS},
                infer_schema_length=None)  # a column may be null in its first thousands
        # Few rows (one per blast); instants go in as naive UTC, polars' own convention.
        blast_frame = pl.DataFrame(
            [{**b.row(), "media_ids": list(b.media_ids),
              "planned_at": b.planned_at.astimezone(UTC).replace(tzinfo=None)} for b in planned],
            schema={**BLAST_SCHEMA, "planned_at": pl.Datetime("us")},
        ).with_columns(pl.col("planned_at").dt.replace_time_zone("UTC"))
        return blast_frame.drop("parameters_sha256"), recipients.with_columns(
            _as_utc(recipients, c) for c in RECIPIENT_SCHEMA if RECIPIENT_SCHEMA[c] == TS)


TS = pl.Datetime("us", "UTC")
BLAST_SCHEMA = {
    "creator_id": pl.String, "blast_id": pl.String, "segment": pl.String, "text": pl.String,
    "media_ids": pl.List(pl.Int64), "price_mode": pl.String, "price_cents": pl.Int64,
    "send_at": pl.String, "holdout_share": pl.Float64, "recent_mass_message_hours": pl.Int32,
    "include_expired": pl.Boolean, "planned_at": TS, "parameters_sha256": pl.String,
    "run_id": pl.String,
}
RECIPIENT_SCHEMA = {
    "blast_id": pl.String, "creator_id": pl.String, "fan_id": pl.Int64, "cohort": pl.String,
    "reason": pl.String, "price_cents": pl.Int64, "price_basis": pl.String, "scheduled_at": TS,
    "state": pl.String, "chunk_no": pl.Int32, "queue_id": pl.Int64, "failure_reason": pl.String,
    "sent_at": TS, "updated_at": TS,
}


def _as_utc(frame: pl.DataFrame, column: str) -> pl.Expr:
    """A timestamp column as UTC: SQLite gives text or naive values, PostgreSQL aware ones."""
    dtype = frame.schema[column]
    expr = pl.col(column)
    if dtype == pl.String:
        expr = expr.str.to_datetime(time_unit="us", time_zone="UTC")
    elif isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        expr = expr.dt.replace_time_zone("UTC")
    elif isinstance(dtype, pl.Datetime):
        expr = expr.dt.convert_time_zone("UTC")
    elif dtype == pl.Null:
        expr = expr.cast(TS)
    return expr.cast(TS).alias(column)


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
