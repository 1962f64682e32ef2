"""The landing store: every accepted webhook delivery, durably, before it is acknowledged.

One SQL database reached through SQLAlchemy Core, SQLite by default
(`sqlite:///$OFHQ_HOME/landing.db`) or PostgreSQL through `OFHQ_LANDING_URL`, with the same code.

Tables (created when missing; columns and indexes added by later versions are added on open):

- `webhook_events`: one row per distinct delivery. `id` only grows and is the sensor's cursor
  (`events_after`). Two unique keys make a redelivery or a replay land nothing new:
  `idempotency_key` (the `X-OFAPI-Idempotency-Key` header, or `sha256:<hex>` of the body when
  absent) and `body_sha256`, the digest of the signed body itself, since the signature covers the
  body and not the header (rows landed before digests were kept have none). `body` is the JSON
  exactly as received; `occurred_at` is the payload's own timestamp, `known` says whether the
  pipeline acts on the event type. `stale` rows are kept for inspection (`stale()`) but never
  applied: every query the pipeline reads events with (`events_after`, `events_for`,
  `creators_after`, `max_event_id`, `counts().by_event`) leaves them out.
- `webhook_quarantine`: signed bodies the receiver refused, with the reason (never headers beyond
  content type and length, never the signature), once per distinct body.
- `alerts_sent`: one row per alert ever claimed (`claim_alert`), so an alert goes out once.

Durability: a delivery is acknowledged only after its insert committed. SQLite runs in WAL mode
with `synchronous=FULL`: every commit is fsynced to the WAL, so an acknowledged event survives a
killed process and a power loss alike. (`NORMAL` would survive a killed process but could lose
the last commits on a power loss; FULL costs ~0.15 ms per commit here and, with group commit,
the receiver still lands ~1,500 events/s at p99 ~30 ms: `python -m bench.receiver`.)
PostgreSQL keeps its own `synchronous_commit` (on by default). A SQLite file and the folder this
store creates for it are owner-only (0600 / 0700): they hold every delivery.

Group commit: concurrent `land` calls of one process share transactions (see `land`), since SQLite
admits one writer at a time and its busy handler sleeps rather than queueing.

Cursor safety: `events_after(cursor)` must never miss a row that commits later with a smaller id.
SQLite serialises writers, so ids commit in order. On PostgreSQL, ids come from a sequence and
concurrent transactions (several receiver processes) could commit out of order, so each landing
transaction takes a transaction-scoped advisory lock: they commit one at a time, in id order.

Least privilege: the receiver's writes are plain `INSERT ... ON CONFLICT DO NOTHING` without
`RETURNING` (a duplicate is told by the row count, never by reading back), so on PostgreSQL the
internet-facing receiver can log in as a role that may only add rows to `webhook_events` and
`webhook_quarantine` (`grant_receiver_role`, `ofhq webhooks grant-role ROLE`): no SELECT,
UPDATE or DELETE on anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.pool import StaticPool

from ofhq_pipeline.postgres_url import is_postgres, sqlalchemy_url
from ofhq_pipeline.realtime.events import is_known
from ofhq_pipeline.settings import Paths

log = logging.getLogger(__name__)

URL_ENV = "OFHQ_LANDING_URL"

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Arbitrary constant naming the "landing insert" advisory lock on PostgreSQL.
PG_LANDING_LOCK = 0x0F4C_414E_4400
# The tables the receiver writes to: all a receiver role may touch, and only by INSERT.
RECEIVER_TABLES = ("webhook_events", "webhook_quarantine")
RECEIVER_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

metadata = sa.MetaData()

webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("account_id", sa.Text),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True)),
    sa.Column("known", sa.Boolean, nullable=False),
    sa.Column("redelivery_of", sa.Text),
    sa.Column("body", sa.Text, nullable=False),
    # Hex SHA-256 of the body; NULL only on rows landed before it was kept.
    sa.Column("body_sha256", sa.Text),
    sa.Column("stale", sa.Boolean, nullable=False, server_default=sa.false()),
    # A creator's real-time run reads its own events past its own cursor.
    sa.Index("ix_webhook_events_account_id", "account_id", "id"),
    sa.Index("ux_webhook_events_body_sha256", "body_sha256", unique=True),
    sqlite_autoincrement=True,  # ids are never reused, even after deletes: a safe cursor
)

webhook_quarantine = sa.Table(
    "webhook_quarantine",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("content_type", sa.Text),
    sa.Column("content_length", sa.Integer, nullable=False),
    sa.Column("body_sha256", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Index("ux_webhook_quarantine_body_sha256", "body_sha256", unique=True),
)

alerts_sent = sa.Table(
    "alerts_sent",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("alert_key", sa.Text, nullable=False, unique=True),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("account_id", sa.Text),
    sa.Column("fan_id", sa.BigInteger),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    # 'telegram' or 'log' once sent; NULL while claimed and not yet sent.
    sa.Column("channel", sa.Text),
)


def landing_url_from_env() -> str:
    """OFHQ_LANDING_URL, else a SQLite file `landing.db` under OFHQ_HOME."""
    url = os.environ.get(URL_ENV)
    if url:
        return url
    return f"sqlite:///{Paths.from_env().home / 'landing.db'}"


def landing_url(url: str | URL) -> URL:
    """The URL to open: a PostgreSQL one with the psycopg2 driver whatever its spelling
    (`postgresql://`, `postgres://`, `postgresql+psycopg2://`; another driver is refused),
    any other as given."""
    return sqlalchemy_url(url, URL_ENV) if is_postgres(url) else sa.make_url(url)


def safe_url(url: str | URL) -> str:
    """The URL with its password hidden, for logs and messages."""
    return sa.make_url(url).render_as_string(hide_password=True)


def _storable(text: str) -> str:
    """Text any database column takes: no NUL, no lone surrogate (PostgreSQL refuses both)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def as_utc(value: datetime | None) -> datetime | None:
    """Aware UTC: SQLite hands timestamps back naive (they are stored in UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# The events the pipeline applies: everything landed except stale events.
_APPLIED = sa.not_(webhook_events.c.stale)


@dataclass(frozen=True)
class LandedEvent:
    """One row of `webhook_events`."""

    id: int
    idempotency_key: str
    event: str
    account_id: str | None
    received_at: datetime
    occurred_at: datetime | None
    known: bool
    redelivery_of: str | None
    body: str
    body_sha256: str | None = None
    stale: bool = False


@dataclass(frozen=True)
class QuarantinedDelivery:
    """One row of `webhook_quarantine`."""

    id: int
    received_at: datetime
    reason: str
    content_type: str | None
    content_length: int
    body_sha256: str
    body: str


@dataclass(frozen=True)
class LandingCounts:
    """Landed events per type; `unknown` counts those of types the pipeline does not act on.

    Both count the events the pipeline applies; `stale` ones (landed, never applied) and
    quarantined bodies are counted apart.
    """

    by_event: dict[str, int]
    unknown: int
    quarantined: int
    stale: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_event.values())


@dataclass
class _Pending:
    """One delivery waiting for a commit: `stored` or `error` is set once it is resolved."""

    values: dict[str, Any]
    stored: bool | None = None
    error: Exception | None = None

    @property
    def resolved(self) -> bool:
        return self.stored is not None or self.error is not None


def _private_sqlite_file(path: Path) -> None:
    """Create the database's folder (0700) and file (0600) when missing, owner-only: they hold
    every delivery, and SQLite gives its -wal and -shm files the database file's mode."""
    folder = path.parent
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # an empty file is an empty database
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        _private_sqlite_file(Path(database).expanduser().resolve())
        # A pool of connections to one file, shared by the receiver's worker threads; SQLite
        # itself serialises the writers (busy_timeout makes them wait rather than fail).
        engine = sa.create_engine(url, pool_size=8, max_overflow=8, pool_timeout=30,
                                  connect_args={"check_same_thread": False})
    else:
        # One in-memory database must be one connection, shared across threads.
        engine = sa.create_engine(url, poolclass=StaticPool,
                                  connect_args={"check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    return engine


def create_landing_engine(url: str | URL) -> Engine:
    """An engine for the landing store: SQLite tuned for durable concurrent writes, or any other."""
    parsed = landing_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return sa.create_engine(parsed, pool_size=8, max_overflow=8, pool_pre_ping=True)


class LandingStore:
    """The landing store at `url`; safe to share between threads (one engine, one pool)."""

    def __init__(self, url: str | URL | None = None, *, create: bool = True) -> None:
        self.url = landing_url(url or landing_url_from_env())
        self.engine = create_landing_engine(self.url)
        self._dialect = self.engine.dialect.name
        self._write_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []
        # No conflict target and no RETURNING: a conflict on either unique key is a duplicate,
        # and the statement needs the INSERT privilege only (see the module docstring).
        self._land_statement = self._insert(webhook_events).inline().on_conflict_do_nothing()
        self._quarantine_statement = (self._insert(webhook_quarantine).inline()
                                      .on_conflict_do_nothing())
        if create:
            metadata.create_all(self.engine, checkfirst=True)
            self._upgrade()

    def __repr__(self) -> str:
        return f"LandingStore({safe_url(self.url)!r})"

    def __enter__(self) -> LandingStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    def _insert(self, table: sa.Table) -> Any:
        if self._dialect == "postgresql":
            return postgresql.insert(table)
        if self._dialect == "sqlite":
            return sqlite.insert(table)
        raise NotImplementedError(f"landing store on {self._dialect} (use SQLite or PostgreSQL)")

    def _upgrade(self) -> None:
        """Add what a store created by an earlier version lacks: `body_sha256` (filled in for
        the first row of each distinct body; later copies stay NULL) and `stale`, and the
        unique indexes. Nothing is done, and no privilege beyond reading the catalog is needed,
        when the store is up to date."""
        inspector = sa.inspect(self.engine)
        present = {column["name"] for column in inspector.get_columns(webhook_events.name)}
        missing = [column for column in webhook_events.columns if column.name not in present]
        if missing:
            try:
                with self.engine.begin() as conn:
                    for column in missing:
                        ddl = sa.schema.CreateColumn(column).compile(dialect=self.engine.dialect)
                        conn.execute(sa.text(f"ALTER TABLE {webhook_events.name} ADD COLUMN {ddl}"))
                    if "body_sha256" in {column.name for column in missing}:
                        self._fill_digests(conn)
            except sa.exc.DBAPIError:
                # Another process upgrading at the same time is fine; anything else is not.
                present = {c["name"] for c in sa.inspect(self.engine).get_columns(
                    webhook_events.name)}
                if any(column.name not in present for column in missing):
                    raise
        for table in (webhook_events, webhook_quarantine):
            existing = {index["name"] for index in sa.inspect(self.engine).get_indexes(table.name)}
            for index in table.indexes:
                if index.name in existing:
                    continue
                try:
                    with self.engine.begin() as conn:
                        index.create(conn, checkfirst=True)
                except sa.exc.IntegrityError:
                    log.warning("landing store: %s not created, %s holds duplicates from an "
                                "earlier version; repeated bodies are kept until they are removed",
                                index.name, table.name)

    @staticmethod
    def _fill_digests(conn: Connection) -> None:
        seen: set[str] = set()
        updates: list[dict[str, Any]] = []
        rows = conn.execute(sa.select(webhook_events.c.id, webhook_events.c.body)
                            .order_by(webhook_events.c.id))
        for row_id, body in rows:
            digest = hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
            if digest not in seen:
                seen.add(digest)
                updates.append({"row_id": row_id, "digest": digest})
        statement = (webhook_events.update()
                     .where(webhook_events.c.id == sa.bindparam("row_id"))
                     .values(body_sha256=sa.bindparam("digest")))
        for start in range(0, len(updates), 1000):
            conn.execute(statement, updates[start:start + 1000])

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One short write transaction; this process's writers take turns (see `land`)."""
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    def land(
        self,
        *,
        idempotency_key: str,
        event: str,
        body: str,
        account_id: str | None = None,
        occurred_at: datetime | None = None,
        redelivery_of: str | None = None,
        received_at: datetime | None = None,
        stale: bool = False,
        body_sha256: str | None = None,
    ) -> bool:
        """Store one delivery; True when new, False when its key or its body was landed before.

        `body_sha256` defaults to the digest of `body` in UTF-8 (the received bytes, for a body
        that was UTF-8). A `stale` delivery is stored but never applied (module docstring).

        Returns only after the commit, so the caller may acknowledge the delivery. Concurrent
        callers share commits: the thread that gets the write lock inserts every delivery queued
        so far in one transaction, and the others find theirs committed when their turn comes.
        """
        if body_sha256 is None and isinstance(body, str):
            body_sha256 = hashlib.sha256(body.encode("utf-8")).hexdigest()
        pending = _Pending({
            "idempotency_key": idempotency_key,
            "event": event,
            "account_id": account_id,
            "received_at": as_utc(received_at) or datetime.now(UTC),
            "occurred_at": as_utc(occurred_at),
            "known": is_known(event),
            "redelivery_of": redelivery_of,
            "body": body,
            "body_sha256": body_sha256,
            "stale": stale,
        })
        with self._queue_lock:
            self._queue.append(pending)
        with self._write_lock:
            if not pending.resolved:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._land_batch(batch)
        if pending.error is not None:
            raise pending.error
        return bool(pending.stored)

    def _land_batch(self, batch: list[_Pending]) -> None:
        """Insert `batch` in one transaction, or if that fails each delivery in its own.

        The caller holds the write lock. Every delivery ends with `stored` or `error` set.
        """
        try:
            with self.engine.begin() as conn:
                if self._dialect == "postgresql":  # ids commit in order: see the module docstring
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                                 {"key": PG_LANDING_LOCK})
                stored = [conn.execute(self._land_statement, p.values).rowcount == 1
                          for p in batch]
            for p, new in zip(batch, stored, strict=True):
                p.stored = new
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:  # one bad delivery must not fail the others
                for p in batch:
                    self._land_batch([p])
        finally:
            for p in batch:
                if not p.resolved:
                    p.error = RuntimeError("landing interrupted before commit")

    def quarantine(
        self,
        body: bytes,
        reason: str,
        *,
        content_type: str | None = None,
        received_at: datetime | None = None,
    ) -> bool:
        """Keep a body the receiver refused, with the reason; True when it was not kept before.

        The body is stored as text: exact when it is UTF-8 without NUL, escaped otherwise
        (`body_sha256` identifies the exact bytes either way), so any bytes can be kept.
        """
        text = body.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")
        values = {
            "received_at": as_utc(received_at) or datetime.now(UTC),
            "reason": _storable(reason),
            "content_type": _storable(content_type[:200]) if content_type is not None else None,
            "content_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "body": text,
        }
        with self._write() as conn:
            return conn.execute(self._quarantine_statement, values).rowcount == 1

    def _landed(self, query: sa.Select) -> list[LandedEvent]:
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            LandedEvent(**{**row, "received_at": as_utc(row["received_at"]),
                           "occurred_at": as_utc(row["occurred_at"])})
            for row in rows
        ]

    def events_after(self, cursor: int, limit: int = 1000) -> list[LandedEvent]:
        """Up to `limit` applied events with `id > cursor`, in id order (never stale ones)."""
        query = (sa.select(webhook_events).where(webhook_events.c.id > cursor, _APPLIED)
                 .order_by(webhook_events.c.id).limit(limit))
        return self._landed(query)

    def creators_after(self, cursor: int) -> tuple[dict[str | None, int], int]:
        """Per account id, the newest applied event id past `cursor`, and the newest id overall:
        what the sensor needs, aggregated by the database."""
        query = (sa.select(webhook_events.c.account_id, sa.func.max(webhook_events.c.id))
                 .where(webhook_events.c.id > cursor, _APPLIED)
                 .group_by(webhook_events.c.account_id))
        with self.engine.connect() as conn:
            newest = {account: int(i) for account, i in conn.execute(query).all()}
        return newest, max(newest.values(), default=cursor)

    def events_for(self, account_id: str, after: int, limit: int = 100_000) -> list[LandedEvent]:
        """One creator's applied events with `id > after`, in id order (never stale ones)."""
        query = (sa.select(webhook_events)
                 .where(webhook_events.c.account_id == account_id, webhook_events.c.id > after,
                        _APPLIED)
                 .order_by(webhook_events.c.id).limit(limit))
        return self._landed(query)

    def stale(self, limit: int = 100) -> list[LandedEvent]:
        """The newest stale events first: landed for inspection, never applied."""
        query = (sa.select(webhook_events).where(webhook_events.c.stale)
                 .order_by(webhook_events.c.id.desc()).limit(limit))
        return self._landed(query)

    def last_id_before(self, instant: datetime) -> int:
        """The newest applied id received before `instant` (0 when none): a cursor from which
        `events_after` reads what landed since then."""
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(sa.func.max(webhook_events.c.id))
                                 .where(webhook_events.c.received_at < instant)).scalar()
        return int(value or 0)

    def max_event_id(self) -> int:
        """The newest applied id, 0 when nothing has landed."""
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(sa.func.max(webhook_events.c.id))
                                 .where(_APPLIED)).scalar()
        return int(value or 0)

    def counts(self) -> LandingCounts:
        """Applied events per type, those of unknown types, stale events and quarantined
        bodies."""
        per_event = (sa.select(webhook_events.c.event, webhook_events.c.known,
                               webhook_events.c.stale, sa.func.count())
                     .group_by(webhook_events.c.event, webhook_events.c.known,
                               webhook_events.c.stale))
        with self.engine.connect() as conn:
            rows = conn.execute(per_event).all()
            quarantined = conn.execute(
                sa.select(sa.func.count()).select_from(webhook_quarantine)).scalar()
        applied = [(event, known, int(n)) for event, known, stale, n in rows if not stale]
        by_event: dict[str, int] = {}
        for event, _known, n in applied:
            by_event[event] = by_event.get(event, 0) + n
        return LandingCounts(
            by_event=by_event,
            unknown=sum(n for _event, known, n in applied if not known),
            quarantined=int(quarantined or 0),
            stale=sum(int(n) for *_, stale, n in rows if stale),
        )

    def quarantined(self, limit: int = 100) -> list[QuarantinedDelivery]:
        """The newest quarantined bodies first."""
        query = (sa.select(webhook_quarantine).order_by(webhook_quarantine.c.id.desc())
                 .limit(limit))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [QuarantinedDelivery(**{**row, "received_at": as_utc(row["received_at"])})
                for row in rows]

    def ping(self) -> None:
        """Raises when the database cannot be reached."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def check_writable(self) -> None:
        """Raises when a delivery could not land now: a read-only file or database, a role
        without the INSERT privilege. The probe is a landing insert in a transaction that is
        rolled back, so nothing is stored (on PostgreSQL it uses up one id of the sequence)."""
        probe = {
            "idempotency_key": f"health-probe:{uuid.uuid4().hex}",
            "event": "health.probe",
            "account_id": None,
            "received_at": datetime.now(UTC),
            "occurred_at": None,
            "known": False,
            "redelivery_of": None,
            "body": "{}",
            "body_sha256": None,
            "stale": True,
        }
        with self._write_lock, self.engine.connect() as conn:
            transaction = conn.begin()
            try:
                conn.execute(self._land_statement, probe)
            finally:
                transaction.rollback()

    def grant_receiver_role(self, role: str) -> list[str]:
        """Create the LOGIN role `role` when missing (no password: the operator gives it one,
        or another authentication) and let it add rows to the receiver's tables and nothing
        else; returns the statements run. PostgreSQL only; run it as the tables' owner.

        Everything the role held on the schema's tables and sequences is revoked first, so
        running it again leaves exactly these grants. A role that could do more whatever is
        granted here (superuser, CREATEROLE, CREATEDB, BYPASSRLS, REPLICATION, or a member of
        another role) is refused.
        """
        if self._dialect != "postgresql":
            raise ValueError("a receiver role is for a PostgreSQL landing store "
                             f"({URL_ENV}=postgresql://...)")
        if not RECEIVER_ROLE_NAME.fullmatch(role):
            raise ValueError(f"not a role name for the receiver: {role!r} (lowercase letters, "
                             "digits and _, at most 63)")
        quote = self.engine.dialect.identifier_preparer.quote
        with self.engine.begin() as conn:
            found = conn.execute(sa.text(
                "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication"
                " OR EXISTS (SELECT 1 FROM pg_auth_members WHERE member = r.oid)"
                " FROM pg_roles AS r WHERE rolname = :role"), {"role": role}).first()
            if found is not None and found[0]:
                raise ValueError(f"role {role} already exists with more power than the receiver "
                                 "may have; choose another name")
            database, schema = conn.execute(
                sa.text("SELECT current_database(), current_schema()")).one()
            sequences = [conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"),
                                      {"t": f"{quote(schema)}.{quote(table)}"}).scalar_one()
                         for table in RECEIVER_TABLES]
            if not all(sequences):
                raise ValueError("the landing tables' ids are not serial: cannot grant their "
                                 "sequences")
            tables = ", ".join(f"{quote(schema)}.{quote(table)}" for table in RECEIVER_TABLES)
            statements = [f"CREATE ROLE {quote(role)} LOGIN"] if found is None else []
            statements += [
                f"GRANT CONNECT ON DATABASE {quote(database)} TO {quote(role)}",
                f"GRANT USAGE ON SCHEMA {quote(schema)} TO {quote(role)}",
                f"REVOKE ALL ON ALL TABLES IN SCHEMA {quote(schema)} FROM {quote(role)}",
                f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {quote(schema)} FROM {quote(role)}",
                f"GRANT INSERT ON TABLE {tables} TO {quote(role)}",
                f"GRANT USAGE ON SEQUENCE {', '.join(sequences)} TO {quote(role)}",
            ]
            for statement in statements:
                conn.execute(sa.text(statement))
        return statements

    # Alerts: each alert key is sent at most once, whoever (sensor tick, retry) tries again.

    def claim_alert(
        self,
        alert_key: str,
        rule: str,
        account_id: str | None,
        fan_id: int | None,
        *,
        channel: str | None = None,
    ) -> bool:
        """Record the alert; True only the first time its key is claimed.

        Claim before sending, then `set_alert_channel` with what `TelegramResource.send` returned;
        `release_alert` gives the key back when sending failed, so a later attempt can retry.
        """
        statement = self._insert(alerts_sent).values(
            alert_key=alert_key,
            rule=rule,
            account_id=account_id,
            fan_id=fan_id,
            sent_at=datetime.now(UTC),
            channel=channel,
        ).on_conflict_do_nothing(index_elements=["alert_key"])
        with self._write() as conn:
            return conn.execute(statement).rowcount == 1

    def set_alert_channel(self, alert_key: str, channel: str) -> None:
        """Record how a claimed alert went out ('telegram' or 'log')."""
        with self._write() as conn:
            conn.execute(alerts_sent.update().where(alerts_sent.c.alert_key == alert_key)
                         .values(channel=channel, sent_at=datetime.now(UTC)))

    def alert_keys(self, account_id: str) -> set[str]:
        """The keys of every alert already claimed for a creator."""
        query = sa.select(alerts_sent.c.alert_key).where(alerts_sent.c.account_id == account_id)
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def release_alert(self, alert_key: str) -> None:
        """Forget a claim whose sending failed."""
        with self._write() as conn:
            conn.execute(alerts_sent.delete().where(alerts_sent.c.alert_key == alert_key))
