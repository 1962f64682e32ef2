"""The lake: per-creator Parquet files under OFHQ_HOME, with DuckDB as the in-process engine.

Each creator partition reads and writes only its own files, so runs of different creators never
contend for a DuckDB file lock; only publishing to the analysts' file is serialised. A creator id
becomes a folder name only after `require_creator_id` accepted it, so a partition key such as
`../../outside` never resolves a path outside the lake.

    lake/raw/<table>/<creator>/<batch>.parquet      as received, one batch per sync
    lake/raw/<table>/<creator>/<YYYY-MM>.parquet    batches of a month compacted into one file
    lake/staging/<table>/<creator>.parquet          typed, deduplicated
    lake/staging/_merged/<table>/<creator>.json     which raw batches that file holds
    lake/marts/<creator>/<run_id>/<table>.parquet   marts written by one run
    lake/marts/<creator>/<run_id>/<table>.<part>.parquet   more rows of that mart (`mart_files`)
    lake/marts/<creator>/manifest.json              which run's file is current, per mart table
    lake/intermediate/<table>/<creator>.parquet     per-fan building blocks of the marts
    lake/agency/accounts.parquet                    the connected creator accounts

`Lake.session` is the one session SQL models run in: the macros of sql/macros/, the creator's
raw, staging, intermediate and (with a run) marts tables as views, and every table of the registry
that was never built as an empty table typed from the data dictionary.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from ofhq_pipeline import registry
from ofhq_pipeline.dictionary import TABLES
from ofhq_pipeline.settings import SQL_DIR, Paths
from ofhq_pipeline.source.contract import display_username, require_creator_id

# The staging model of raw values that do not cast; every other staging model reads it.
REJECTS = "cast_rejects"

# The column naming the entity each row of a merged staging table describes. Such a table is a
# base file plus its changes (`lake/staging/_changes/`): the rows of every entity the changes
# name (`_replaced`) take the place of the base's, and `_removed` marks an entity that no longer
# has a row. A merge rewrites only the changes; the base is rewritten when they grow large, and
# the changes are then emptied (never removed: the warehouse's views read them by pattern).
STAGED_KEYS = {
    "fans": "fan_id",
    "subscription_periods": "fan_id",
    "transactions": "transaction_id",
    "messages": "message_id",
    "chats": "fan_id",
    "vault_media": "media_id",
}

RAW_COLUMNS = {
    "creator_id": pl.String,
    "batch_id": pl.String,
    "fetched_at": pl.Datetime("us", "UTC"),
    "sync_mode": pl.String,
    "item_no": pl.Int64,
    "payload": pl.String,
}
# Columns some raw tables add: a message does not name its chat, so the chat's fan is kept; a
# webhook event keeps its type, its landing id (the creator's cursor) and its own timestamp.
RAW_EXTRA_COLUMNS = {
    "chat_fan_id": pl.Int64,
    "event": pl.String,
    "event_id": pl.Int64,
    "occurred_at": pl.Datetime("us", "UTC"),
}
# The raw tables of a creator, with the extra columns each adds.
RAW_TABLES: dict[str, tuple[str, ...]] = {
    "fans": (),
    "transactions": (),
    "chargebacks": (),
    "chats": (),
    "messages": ("chat_fan_id",),
    "vault_media": (),
    "webhook_events": ("event", "event_id", "occurred_at"),
}


# The raw columns as DuckDB types, for a raw table that has no file yet.
RAW_SQL_TYPES = {
    "creator_id": "VARCHAR", "batch_id": "VARCHAR", "fetched_at": "TIMESTAMPTZ",
    "sync_mode": "VARCHAR", "item_no": "BIGINT", "payload": "VARCHAR",
    "chat_fan_id": "BIGINT", "event": "VARCHAR", "event_id": "BIGINT", "occurred_at": "TIMESTAMPTZ",
}


def raw_columns(table: str) -> list[str]:
    return [*RAW_COLUMNS, *RAW_TABLES[table]]


def raw_select(table: str, files: list[Path]) -> str:
    """The rows of `files` (raw files of `table`) with exactly the raw columns, typed; no rows
    without files. Compacted files carry entity keys too, which only the staging merge reads."""
    columns = raw_columns(table)
    if not files:
        typed = ", ".join(f'CAST(NULL AS {RAW_SQL_TYPES[c]}) AS "{c}"' for c in columns)
        return f"SELECT {typed} WHERE false"
    return (f"SELECT {', '.join(columns)} "
            f"FROM read_parquet({file_list(files)}, union_by_name = true)")


def file_list(paths: list[Path]) -> str:
    """Files as a DuckDB list literal (sorted), for read_parquet."""
    return "[" + ", ".join(quote(p) for p in sorted(paths)) + "]"


def is_month_file(path: Path) -> bool:
    """A compacted month (`2026-11.parquet`), as opposed to one sync's batch."""
    return len(path.stem) == 7 and path.stem[4] == "-"


def new_batch_id(fetched_at: datetime) -> str:
    """Sortable by write time, unique across concurrent writers."""
    return f"{fetched_at:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"


def raw_frame(
    items: list[dict],
    creator_id: str | list[str],
    *,
    fetched_at: datetime | list[datetime],
    sync_mode: str,
    batch_id: str | None = None,
    extra: dict[str, list] | None = None,
) -> pl.DataFrame:
    """The raw layer's shape: one row per item as received (JSON text) plus where it came from.

    `fetched_at` is one instant for a fetched page, or one per item for pushed (webhook) items.
    """
    n = len(items)
    fetched = fetched_at if isinstance(fetched_at, list) else [fetched_at] * n
    batch_id = batch_id or new_batch_id(datetime.now(UTC))
    extra = extra or {}
    return pl.DataFrame(
        {
            "creator_id": creator_id if isinstance(creator_id, list) else [creator_id] * n,
            "batch_id": [batch_id] * n,
            "fetched_at": fetched,
            "sync_mode": [sync_mode] * n,
            "item_no": list(range(n)),
            "payload": [json.dumps(item, separators=(",", ":"), ensure_ascii=False) for item in items],
            **extra,
        },
        schema_overrides={**RAW_COLUMNS, **{k: RAW_EXTRA_COLUMNS[k] for k in extra}},
    )


def atomic_write(path: Path, write) -> None:
    """Write through a temporary sibling and rename, so readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive `flock` on `path` (created, with its folder, if missing) while inside: one
    writer at a time across processes, whatever started them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def link_or_copy(source: Path, target: Path) -> None:
    """A snapshot of a lake file without rewriting it: lake files are replaced by rename, never
    modified in place, so a hard link keeps the version linked."""
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copyfile(source, target)


# The macros every session loads, in order (a later file may use an earlier one's macros).
MACRO_FILES = ("macros/pipeline", "macros/lifecycle")


def sql_text(model: str) -> str:
    """The SELECT of a SQL model, e.g. `staging/transactions` → sql/staging/transactions.sql."""
    return (SQL_DIR / f"{model}.sql").read_text()


# The key under which an incremental model's file records the definition that built it.
DEFINITION_KEY = "definition"


@functools.cache
def definition(key: str) -> str:
    """A digest of what computes a model: its query and the macros every session loads. An
    incremental model's file records the one it was built by, and a build starts only from a
    last build of the same definition: figures kept under an older rule would be stale."""
    texts = [sql_text(key), *(sql_text(macros) for macros in MACRO_FILES)]
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]


def built_by_definition(con: duckdb.DuckDBPyConnection, path: Path, key: str) -> bool:
    """Whether the file at `path` records that the current definition of `key` built it."""
    (found,) = con.execute(
        f"SELECT count(*) FROM parquet_kv_metadata({quote(path)}) "
        "WHERE decode(key) = ? AND decode(value) = ?", [DEFINITION_KEY, definition(key)]
    ).fetchone()
    return found > 0


@functools.cache  # every session types the tables it lacks: build each text once a process
def empty_select(key: str) -> str:
    """The table `key` before it was ever built: no rows, the columns and types the dictionary
    gives it, so every model that reads it binds."""
    columns = ", ".join(f'CAST(NULL AS {c.type}) AS "{c.name}"' for c in TABLES[key].columns)
    return f"SELECT {columns} WHERE false"


def mart_files(path: Path) -> list[Path]:
    """The files a mart written at `path` is made of: that file, and the parts a run wrote beside
    it (`<table>.<part>.parquet`), each holding other rows of the same columns. A mart whose
    file is another's as it is (marts.transactions, the staged file linked) takes only what is
    new as a part, instead of rewriting every row."""
    return [path, *sorted(path.parent.glob(f"{path.stem}.*.parquet"))]


def is_mart_part(path: Path) -> bool:
    """A part beside a mart's file (`transactions.added.parquet`), not a mart of its own."""
    return "." in path.stem


def mart_select(model: registry.Model, path: Path | None) -> str:
    """A mart as the models read it: its files; a table a Python step writes is also unioned by
    name with its empty typed shape, so a column an older file lacks is there, as NULL; a mart
    not built yet is the empty typed shape alone."""
    if path is None:
        return empty_select(model.key)
    source = f"SELECT * FROM read_parquet({file_list(mart_files(path))})"
    return source if model.is_sql else f"{empty_select(model.key)}\nUNION ALL BY NAME {source}"


def quote(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class Lake:
    def __init__(self, paths: Paths, *, memory_limit: str = "3GB", threads: int = 2) -> None:
        self.paths = paths
        self.root = paths.lake
        self.memory_limit = memory_limit
        self.threads = threads

    # ---- locations -------------------------------------------------------------------------
    def raw_dir(self, table: str, creator_id: str) -> Path:
        return self.root / "raw" / table / require_creator_id(creator_id)

    def raw_files(self, table: str, creator_id: str) -> list[Path]:
        """Every raw file of the creator's table: its compacted months, then its batches."""
        return sorted(self.raw_dir(table, creator_id).glob("*.parquet"))

    def raw_batches(self, table: str, creator_id: str) -> list[Path]:
        """The creator's batches of `table` not compacted yet, oldest first."""
        return [f for f in self.raw_files(table, creator_id) if not is_month_file(f)]

    def staging_path(self, table: str, creator_id: str, layer: str = "staging") -> Path:
        return self.root / layer / table / f"{require_creator_id(creator_id)}.parquet"

    def staging_changes_path(self, table: str, creator_id: str) -> Path:
        """`lake/staging/_changes/<table>/<creator>.parquet`: the staged table's changes since its
        base was last written (see `STAGED_KEYS`)."""
        return self.staging_path(table, creator_id, layer="staging/_changes")

    def staged_select(self, table: str, creator_id: str | None = None) -> str | None:
        """A staging table as a SELECT, its base with its changes applied: one creator's, or
        every creator's (None). None when it was never built."""
        if creator_id is None:  # the files of every creator (the warehouse's views)
            folders = [self.root / "staging" / table, self.root / "staging" / "_changes" / table]
            if not any(folders[0].glob("*.parquet")):
                return None
            base, changes = (f"read_parquet({quote(f / '*.parquet')}, union_by_name = true)"
                             if any(f.glob("*.parquet")) else None for f in folders)
        else:
            paths = self.staging_path(table, creator_id), self.staging_changes_path(table, creator_id)
            if not paths[0].exists():
                return None
            base, changes = (f"read_parquet({quote(p)})" if p.exists() else None for p in paths)
        if table not in STAGED_KEYS or changes is None:
            return f"SELECT * FROM {base}"
        return (f"SELECT b.* FROM {base} AS b ANTI JOIN {changes} AS c "
                f"ON c.creator_id = b.creator_id AND c._replaced = b.{STAGED_KEYS[table]}\n"
                f"UNION ALL BY NAME SELECT * EXCLUDE (_replaced, _removed) "
                f"FROM {changes} WHERE NOT _removed")

    def creator_marts_dir(self, creator_id: str) -> Path:
        return self.root / "marts" / require_creator_id(creator_id)

    def mart_path(self, table: str, creator_id: str, run_id: str) -> Path:
        return self.creator_marts_dir(creator_id) / run_id / f"{table}.parquet"

    def model_path(self, key: str, creator_id: str, run_id: str) -> Path:
        """Where a model of the registry is written: marts into the run's folder (published
        together), staging and intermediate tables as the creator's current file."""
        layer, table = key.split("/", 1)
        if layer == "marts":
            return self.mart_path(table, creator_id, run_id)
        return self.staging_path(table, creator_id, layer=layer)

    @property
    def accounts_path(self) -> Path:
        return self.root / "agency" / "accounts.parquet"

    # ---- engine ----------------------------------------------------------------------------
    def connect(self) -> duckdb.DuckDBPyConnection:
        # What spills is fans' data: owner-only. DuckDB creates only the folder's last part.
        self.paths.spill.mkdir(parents=True, mode=0o700, exist_ok=True)
        con = duckdb.connect(config={
            "threads": self.threads,
            "memory_limit": self.memory_limit,
            # A folder of its own: DuckDB names its spill files alike in every session, so two
            # sessions spilling into one folder (two steps or runs at once) overwrite each other's
            # and the first to close deletes the other's. DuckDB removes the folder on close.
            "temp_directory": str(self.paths.spill / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"),
            # No model relies on row order, and unordered writes are parallel and leaner.
            "preserve_insertion_order": False,
        })
        con.execute("SET TimeZone = 'UTC'")
        for macros in MACRO_FILES:
            con.execute(sql_text(macros))
        return con

    @staticmethod
    def empty_raw(creator_id: str, extra: tuple[str, ...] = ()) -> pl.DataFrame:
        return raw_frame([], creator_id, fetched_at=datetime.now(UTC), sync_mode="none",
                         extra={k: [] for k in extra})

    def attach_creator(self, con: duckdb.DuckDBPyConnection, creator_id: str) -> None:
        """Views raw.* and staging.* over one creator's files, as the SQL models expect them."""
        for schema in ("raw", "staging", "intermediate"):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for table in RAW_TABLES:
            # Never fetched yet: an empty table of the raw shape keeps the models valid.
            con.execute(f"CREATE OR REPLACE VIEW raw.{table} AS "
                        f"{raw_select(table, self.raw_files(table, creator_id))}")
        # A staging table this creator has never built (one known only from webhooks has no
        # chats yet) is its model over raw, so every model downstream still binds. The rejects
        # come first: every other staging model leaves out the rows they hold.
        for model in registry.models(layer="staging"):
            source = self.staged_select(model.table, creator_id)
            con.execute(
                f"CREATE OR REPLACE VIEW staging.{model.table} AS {source or sql_text(model.key)}"
            )
        for model in registry.models(layer="intermediate"):
            path = self.staging_path(model.table, creator_id, layer="intermediate")
            source = f"SELECT * FROM read_parquet({quote(path)})" if path.exists() else None
            con.execute(f"CREATE OR REPLACE VIEW intermediate.{model.table} AS "
                        f"{source or empty_select(model.key)}")
            if model.incremental:  # what its query reads of its last build, by another name
                if source and not built_by_definition(con, path, model.key):
                    source = None  # built by another definition: start from nothing
                con.execute("CREATE SCHEMA IF NOT EXISTS previous")
                con.execute(f"CREATE OR REPLACE VIEW previous.{model.table} AS "
                            f"{source or empty_select(model.key)}")
        if self.accounts_path.exists():
            source = f"read_parquet({quote(self.accounts_path)})"
        else:
            con.register("_empty_accounts", self.empty_raw(creator_id))
            source = "_empty_accounts"
        con.execute(f"CREATE OR REPLACE VIEW raw.accounts AS SELECT * FROM {source}")

    @contextmanager
    def session(
        self, creator_id: str, *, as_of: datetime | None = None, run_id: str | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB session over one creator's files, as the SQL models expect them.

        `run_id` makes the marts this run has already written visible under `marts.*`
        (falling back to the creator's current ones, then to their empty typed shape); `as_of`
        sets `as_of()`.
        """
        con = self.connect()
        try:
            self.attach_creator(con, creator_id)
            con.execute("SET VARIABLE creator_id = ?", [creator_id])
            if as_of is not None:
                con.execute("SET VARIABLE as_of = CAST(? AS TIMESTAMPTZ)", [as_of.isoformat()])
            if run_id is not None:
                self.attach_marts(con, creator_id, run_id)
            yield con
        finally:
            con.close()

    def attach_marts(self, con: duckdb.DuckDBPyConnection, creator_id: str, run_id: str) -> None:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        current = {table: self.root / rel for table, rel in self.read_manifest(creator_id).items()}
        current.update({path.stem: path for path in self.run_marts(creator_id, run_id)})
        for model in registry.models(layer="marts"):
            con.execute(f"CREATE OR REPLACE VIEW marts.{model.table} AS "
                        f"{mart_select(model, current.get(model.table))}")

    def write_model(
        self, con: duckdb.DuckDBPyConnection, model: str, path: Path, refresh_view: str | None = None
    ) -> int:
        """Run a SQL model into a Parquet file atomically; returns its row count. An incremental
        model's file records the definition that built it."""
        select = sql_text(model)
        options = "FORMAT parquet, COMPRESSION zstd"
        if model in registry.BY_KEY and registry.model(model).incremental:
            options += f", KV_METADATA {{{DEFINITION_KEY}: '{definition(model)}'}}"
        atomic_write(path, lambda tmp: con.execute(f"COPY ({select}) TO {quote(tmp)} ({options})"))
        if refresh_view:  # later models of the same run read what this one wrote
            con.execute(
                f"CREATE OR REPLACE VIEW {refresh_view} AS SELECT * FROM read_parquet({quote(path)})"
            )
        return parquet_rows(con, path)

    # ---- raw -------------------------------------------------------------------------------
    def write_raw_batch(
        self,
        table: str,
        creator_id: str,
        items: list[dict],
        *,
        fetched_at: datetime | list[datetime],
        sync_mode: str,
        extra: dict[str, list] | None = None,
    ) -> Path:
        """Store API items exactly as received (JSON text), one file per sync, possibly empty."""
        batch_id = new_batch_id(datetime.now(UTC))
        frame = raw_frame(
            items, creator_id, fetched_at=fetched_at, sync_mode=sync_mode, batch_id=batch_id, extra=extra
        )
        path = self.raw_dir(table, creator_id) / f"{batch_id}.parquet"
        atomic_write(path, lambda tmp: frame.write_parquet(tmp, compression="zstd"))
        return path

    def write_accounts(self, accounts: list[dict], *, fetched_at: datetime) -> Path:
        """The agency's account list, as received; each row keyed by the account's own id."""
        ids = [str(account.get("id")) for account in accounts]
        frame = raw_frame(accounts, ids, fetched_at=fetched_at, sync_mode="full")
        atomic_write(self.accounts_path, lambda tmp: frame.write_parquet(tmp))
        return self.accounts_path

    def raw_max(self, table: str, creator_id: str, expression: str):
        """max(expression) over every raw batch of the creator's table; None before any."""
        files = self.raw_files(table, creator_id)
        if not files:
            return None
        con = self.connect()
        try:
            return con.execute(
                f"SELECT max({expression}) FROM ({raw_select(table, files)})").fetchone()[0]
        finally:
            con.close()

    def creator_usernames(self) -> dict[str, str]:
        """Each connected creator's username by account id (empty before the first discovery):
        partitions are ids, people know creators by name."""
        if not self.accounts_path.exists():
            return {}
        con = duckdb.connect()
        try:
            rows = con.execute(
                "SELECT creator_id, payload ->> '$.username' FROM "
                f"read_parquet({quote(self.accounts_path)})"
            ).fetchall()
        finally:
            con.close()
        return {creator: name for creator, name in rows if display_username(name)}

    # ---- marts behind staging ----------------------------------------------------------------
    def marts_behind_path(self, creator_id: str) -> Path:
        """The marts not rebuilt since staging last changed (JSON list), while there are any."""
        return (self.root / "staging" / "_merged" / "marts_behind"
                / f"{require_creator_id(creator_id)}.json")

    def marts_behind(self, creator_id: str, *, staging_changed: bool) -> bool:
        """Whether the creator's marts must be rebuilt: staging changed now, or changed in a run
        that did not rebuild them all (it failed after staging, or was a real-time run that
        builds only some)."""
        path = self.marts_behind_path(creator_id)
        if staging_changed:
            # Every mart committed so far, and (before the first) whatever the first run writes.
            tables = sorted(self.read_manifest(creator_id)) or ["(first run)"]
            atomic_write(path, lambda tmp: tmp.write_text(json.dumps(tables)))
        return path.exists()

    def marts_rebuilt(self, creator_id: str, tables: set[str]) -> None:
        """`tables` were rebuilt on what staging holds: they are behind no longer."""
        path = self.marts_behind_path(creator_id)
        if not path.exists():
            return
        try:
            behind = set(json.loads(path.read_text())) - tables - {"(first run)"}
        except ValueError:
            behind = set()  # unreadable: the next change writes it again
        if behind:
            atomic_write(path, lambda tmp: tmp.write_text(json.dumps(sorted(behind))))
        else:
            path.unlink(missing_ok=True)

    # ---- marts manifest --------------------------------------------------------------------
    def manifest_path(self, creator_id: str) -> Path:
        return self.creator_marts_dir(creator_id) / "manifest.json"

    def read_manifest(self, creator_id: str) -> dict[str, str]:
        path = self.manifest_path(creator_id)
        return json.loads(path.read_text()) if path.exists() else {}

    def commit_marts(self, creator_id: str, run_id: str, *, published: bool = True
                     ) -> dict[str, str]:
        """Make this run's mart files current for the creator, all tables in one rename. Unless
        not yet `published` (a publish says `marts_rebuilt` itself, once the analysts' file
        holds them), they are behind staging no longer."""
        manifest = self.read_manifest(creator_id)
        for path in self.run_marts(creator_id, run_id):
            manifest[path.stem] = str(path.relative_to(self.root))
        atomic_write(
            self.manifest_path(creator_id),
            lambda tmp: tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True)),
        )
        if published:
            self.run_marts_published(creator_id, run_id)
        return manifest

    def run_marts(self, creator_id: str, run_id: str) -> list[Path]:
        """The mart files a run wrote, one a table (its parts beside it: `mart_files`)."""
        return sorted(path for path in (self.creator_marts_dir(creator_id) / run_id).glob("*.parquet")
                      if not is_mart_part(path))

    def run_marts_published(self, creator_id: str, run_id: str) -> None:
        """The run's marts are published: they are behind staging no longer."""
        self.marts_rebuilt(creator_id, {path.stem for path in self.run_marts(creator_id, run_id)})

    def current_marts(self) -> dict[str, list[Path]]:
        """Per mart table, the current files of every creator (a mart's parts among them)."""
        tables: dict[str, list[Path]] = {}
        for manifest in sorted((self.root / "marts").glob("*/manifest.json")):
            for table, rel in json.loads(manifest.read_text()).items():
                tables.setdefault(table, []).extend(mart_files(self.root / rel))
        return tables

    def prune_marts(self, creator_id: str, keep: int = 3) -> None:
        """Drop run folders no manifest points at, keeping the newest few for open readers."""
        live = {Path(rel).parent.name for rel in self.read_manifest(creator_id).values()}
        runs = sorted(
            (p for p in self.creator_marts_dir(creator_id).iterdir() if p.is_dir()),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for old in runs[keep:]:
            if old.name not in live:
                for f in old.iterdir():
                    f.unlink()
                old.rmdir()


def file_version(path: Path) -> tuple[int, int, int] | None:
    """Which version of a file is at `path` (inode, size, modification time): the lake's files
    are replaced whole, by rename, never edited, so another version is another file. None when
    there is none."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def parquet_rows(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    (rows,) = con.execute(
        f"SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata({quote(path)})"
    ).fetchone()
    return int(rows)
