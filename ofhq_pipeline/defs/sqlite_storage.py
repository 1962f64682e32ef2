"""The embedded default's Dagster storage: Dagster's own SQLite files, each opened once per process.

Dagster's SQLite storages create a new engine, and so open a new SQLite connection, for every
statement batch they run (every event a run writes, every read of the daemon's loops), and close
it after. The files are in WAL mode, where closing the last connection to a file checkpoints it:
every event cost a checkpoint and its fsyncs. A real-time run writes about 170 events, and about 30
more are written when the sensor creates it, so that bookkeeping was seconds of a purchase's way to
the analysts' file while other runs shared the 2 cores. Here every process keeps one engine (a pool
of connections) per file, so an event costs one commit.

The files, their tables and their place under DAGSTER_HOME are Dagster's own (`storage: sqlite:`):
either storage reads what the other wrote. Engines never cross a fork: a forked run worker opens
its own and leaves its parent's alone, since closing a copy of them could checkpoint a file under
its owner. Each process disposes its engines when Dagster disposes the storage or at exit, which
checkpoints each file once. The daemon writes into many runs' files: at most `OPEN_FILES` of them
stay open per process, the least recently used closed first.

Events therefore land in a run's write-ahead log (`<run>.db-wal`) and reach `<run>.db` only at a
checkpoint. Dagster's watcher of a run's events (the UI's live run view) is told of changes to
`<run>.db` alone; here it is told of changes to either.

Before first use in a process, Dagster checks each file's schema revision, loading every one of
its migration scripts to learn the newest (about 60 ms a file, four files in every run's start),
and does nothing more when the file carries a revision at all. Here a file that carries one is
taken as it is, without the scripts; a new or unstamped file still goes through Dagster's own.

This overrides how Dagster's SQLite storages connect and start (`connect`, `from_local`, the event
log's `_connect`), which are internals: the version is pinned, and
ofhq_pipeline_tests/defs/test_sqlite_storage.py fails if Dagster stops going through them.
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager

import sqlalchemy as sa
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, create_db_conn_string
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from watchdog.events import FileSystemEvent, PatternMatchingEventHandler
from watchdog.observers import Observer

# A real-time run touches two files (its own and the asset index); the daemon, the runs it creates.
OPEN_FILES = 8


class Engines:
    """One engine per SQLite file for this process, the least recently used disposed beyond
    `limit`. Thread-safe; after a fork it starts empty and never touches the parent's."""

    def __init__(self, limit: int = OPEN_FILES) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._open: OrderedDict[str, sa.Engine] = OrderedDict()
        self._parents: list[OrderedDict[str, sa.Engine]] = []  # kept, never closed (docstring)
        _ALL.add(self)

    def get(self, url: str, init: Callable[[sa.Engine], None] | None = None) -> sa.Engine:
        with self._lock:
            if self._pid != os.getpid():
                self._parents.append(self._open)
                self._open, self._pid = OrderedDict(), os.getpid()
            engine = self._open.get(url)
            if engine is not None:
                self._open.move_to_end(url)
                return engine
            engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            if init is not None:
                init(engine)
            self._open[url] = engine
            while len(self._open) > self.limit:
                self._open.popitem(last=False)[1].dispose()
            return engine

    def open_urls(self) -> list[str]:
        """The files this process holds open, least recently used first."""
        with self._lock:
            return list(self._open) if self._pid == os.getpid() else []

    def dispose(self) -> None:
        with self._lock:
            if self._pid != os.getpid():
                return
            while self._open:
                self._open.popitem()[1].dispose()


_ALL: weakref.WeakSet[Engines] = weakref.WeakSet()


@atexit.register
def _dispose_all() -> None:
    for engines in list(_ALL):
        engines.dispose()


def stamped(url: str) -> bool:
    """Whether the SQLite file at `url` carries a schema revision (Dagster's `alembic_version`):
    then Dagster's own check before first use would change nothing (docstring)."""
    path = url.removeprefix("sqlite:///")
    if not os.path.exists(path):
        return False
    with closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)) as con:
        try:
            return con.execute("SELECT version_num FROM alembic_version").fetchone() is not None
        except sqlite3.OperationalError:  # no such table: never stamped
            return False


@contextmanager
def _transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log, one engine per shard file."""

    def __init__(self, base_dir: str, inst_data=None) -> None:
        self.engines = Engines()
        super().__init__(base_dir, inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[sa.Connection]:
        with self._db_lock:
            url = self.conn_string_for_shard(shard)

            def init(engine: sa.Engine) -> None:
                if shard not in self._initialized_dbs:
                    if not stamped(url):
                        self._initdb(engine)
                    self._initialized_dbs.add(shard)

            with _transaction(self.engines.get(url, init)) as conn:
                yield conn

    def wipe(self) -> None:
        self.engines.dispose()  # the run files are deleted: no engine may write into a ghost
        super().wipe()

    def watch(self, run_id: str, cursor: str | None, callback) -> None:
        if not self._obs:
            self._obs = Observer()
            self._obs.start()
        watchdog = _RunWatchdog(self, run_id, callback, cursor)
        self._watchers[run_id][callback] = (
            watchdog, self._obs.schedule(watchdog, self._base_dir, recursive=True))

    def dispose(self) -> None:
        super().dispose()
        self.engines.dispose()


class _RunWatchdog(SqliteEventLogStorageWatchdog):
    """Dagster's watcher of one run's events, told of writes to its write-ahead log too."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.files = (self._log_path, f"{self._log_path}-wal")
        PatternMatchingEventHandler.__init__(self, patterns=list(self.files))

    def on_modified(self, event: FileSystemEvent) -> None:
        if event.src_path in self.files:
            self._process_log()


class _OneFile:
    """What the run and the schedule storages share: one file, one engine."""

    _conn_string: str
    db_name: str  # the file's name under its folder, as Dagster names it

    @classmethod
    def from_local(cls, base_dir: str, inst_data=None):
        conn_string = create_db_conn_string(base_dir, cls.db_name)
        if stamped(conn_string):
            return cls(conn_string, inst_data)
        return super().from_local(base_dir, inst_data)  # type: ignore[misc]

    def __init__(self, conn_string: str, inst_data=None) -> None:
        self.engines = Engines(limit=1)
        super().__init__(conn_string, inst_data)  # type: ignore[call-arg]

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        with _transaction(self.engines.get(self._conn_string)) as conn:
            yield conn

    def dispose(self) -> None:
        super().dispose()  # type: ignore[misc]
        self.engines.dispose()


class PooledSqliteRunStorage(_OneFile, SqliteRunStorage):
    """Dagster's SQLite run storage (`runs.db`)."""

    db_name = "runs"


class PooledSqliteScheduleStorage(_OneFile, SqliteScheduleStorage):
    """Dagster's SQLite schedule and sensor storage (ticks, cursors)."""

    db_name = "schedules"


class PooledSqliteStorage(DagsterSqliteStorage):
    """`storage: sqlite:` with the pooled storages above; dagster.yaml names it."""

    def __init__(self, base_dir: str, inst_data=None) -> None:
        self.base_dir = base_dir
        self._run_storage = PooledSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = PooledSqliteScheduleStorage.from_local(
            _schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PooledSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
