"""The marts in PostgreSQL: schema `ofhq_marts`, same tables, columns and types as DuckDB's.

When OFHQ_MARTS_POSTGRES_URL is set, every publish also calls `publish_to_postgres` with the
lake's current mart files (`Lake.current_marts()`), after the analysts' DuckDB file is built.

- **Tables** are named after the marts, with the DuckDB columns in the same order and the
  nearest Postgres types (`pg_type`): BIGINT, INTEGER, DOUBLE PRECISION, BOOLEAN, TEXT,
  TIMESTAMPTZ, DATE, NUMERIC(p,s); a list of scalars becomes an array (`TEXT[]`, `BIGINT[]`),
  anything nested (structs, maps, lists of lists or structs) JSONB. A column that appears in the
  marts is added to the table (ALTER TABLE ADD COLUMN); one that changes type is converted;
  a column that disappears is kept, NULL for new rows.
- **Loading** streams DuckDB's Arrow batches as CSV into `COPY ... FROM STDIN` (psycopg2
  `copy_expert`): no row-by-row inserts, memory bounded by one batch.
- **Atomicity**: one publish is one transaction. With a creator, each creator-keyed table loses
  that creator's rows (`DELETE WHERE creator_id = X`) and gets the new ones by COPY; tables
  without `creator_id` (system_stats) are replaced whole; everything commits once, so a reader
  sees every table of a creator before the publish or every table after it, never half. DELETE
  rather than TRUNCATE keeps that true for readers already inside a query. Without a creator,
  every table is replaced whole.
- **Convergence**: schema `ofhq_marts_state` records which lake file each creator's rows of each
  table came from. A publish also reloads any other creator whose current file Postgres does not
  hold (a table new to Postgres, Postgres attached to an existing lake, an earlier failure), so
  Postgres always ends equal to the analysts' DuckDB file, at the cost of what changed only.
- **Serialised**: publishers take a transaction-scoped advisory lock, so runs on different
  machines never race on CREATE/ALTER TABLE.
- **Access**: `access.apply_access` runs in the same transaction, so a table created by this
  publish gets its grants and row-level security before anyone can see it. Every table forces
  row-level security, so the publisher must be a superuser or have BYPASSRLS (checked first).
- **Projections**: tables derived from a mart for a role that may read only some of its columns
  (`access.PROJECTIONS`: `fan_profile_money`, the CFO's columns of fan_profile) exist in Postgres
  only. Each is rewritten from its source in the same transaction, for the creators the source
  reloaded (whole when its columns change), so it never disagrees with the source.
"""

from __future__ import annotations

import io
import queue
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg2 import sql as pgsql

from ofhq_pipeline.warehouse.access import PROJECTIONS, apply_access
from ofhq_pipeline.warehouse.db import SCHEMA, connect, lock_marts, require_rls_bypass, safe_url

SYSTEM_STATS = "system_stats"
BATCH_ROWS = 50_000
CSV_OPTIONS = pacsv.WriteOptions(include_header=False, batch_size=BATCH_ROWS)

# ---- types ---------------------------------------------------------------------------------

# DuckDB type id → Postgres type, spelled as Postgres' format_type() spells it (so an existing
# column's type compares with a plain string).
SCALAR_TYPES = {
    "boolean": "boolean",
    "tinyint": "smallint",
    "smallint": "smallint",
    "integer": "integer",
    "bigint": "bigint",
    "utinyint": "smallint",
    "usmallint": "integer",
    "uinteger": "bigint",
    "ubigint": "numeric(20,0)",
    "hugeint": "numeric(39,0)",
    "uhugeint": "numeric(39,0)",
    "varint": "numeric",
    "bignum": "numeric",
    "float": "real",
    "double": "double precision",
    "varchar": "text",
    "enum": "text",
    "bit": "text",
    "blob": "bytea",
    "uuid": "uuid",
    "date": "date",
    "time": "time without time zone",
    "time with time zone": "time with time zone",
    "timestamp": "timestamp without time zone",
    "timestamp_s": "timestamp without time zone",
    "timestamp_ms": "timestamp without time zone",
    "timestamp_ns": "timestamp without time zone",
    "timestamp with time zone": "timestamp with time zone",
    "interval": "interval",
}
NESTED = {"list", "array", "struct", "map", "union"}


def is_json(dtype: duckdb.DuckDBPyType) -> bool:
    return str(dtype) == "JSON"


def list_child(dtype: duckdb.DuckDBPyType) -> duckdb.DuckDBPyType | None:
    """The element type of a list (or fixed-size array) of scalars; None otherwise."""
    if dtype.id not in ("list", "array"):
        return None
    child = dict(dtype.children)["child"]
    if child.id in NESTED or is_json(child):
        return None
    return child


def pg_type(dtype: duckdb.DuckDBPyType) -> str:
    """The Postgres type that holds a DuckDB column (format_type() spelling)."""
    if is_json(dtype):
        return "jsonb"
    if dtype.id == "decimal":
        params = dict(dtype.children)
        return f"numeric({params['precision']},{params['scale']})"
    if dtype.id in ("list", "array"):
        child = list_child(dtype)
        return f"{pg_type(child)}[]" if child is not None else "jsonb"
    if dtype.id in NESTED:
        return "jsonb"
    return SCALAR_TYPES.get(dtype.id, "text")


def quote_duck(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duck_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def scalar_text(expr: str, dtype: duckdb.DuckDBPyType) -> str:
    """DuckDB SQL rendering a scalar as the text Postgres' input function reads."""
    if dtype.id == "blob":
        return f"('\\x' || hex({expr}))"
    if dtype.id in ("varchar", "enum"):
        return f"replace(CAST({expr} AS VARCHAR), chr(0), '')"  # Postgres TEXT holds no NUL
    if dtype.id == "timestamp with time zone":
        # UTC from the epoch, without a time zone lookup per value: 4-5× faster than a cast.
        return (
            f"CASE WHEN isfinite({expr}) THEN CAST(make_timestamp(epoch_us({expr})) AS VARCHAR)"
            f" || 'Z' ELSE CAST({expr} AS VARCHAR) END"
        )
    return f"CAST({expr} AS VARCHAR)"


def text_expr(column: str, dtype: duckdb.DuckDBPyType) -> str:
    """DuckDB SQL rendering a column as CSV text for COPY; NULL stays NULL."""
    expr = quote_duck(column)
    if is_json(dtype):
        return f"replace(CAST({expr} AS VARCHAR), '\\u0000', '')"
    child = list_child(dtype)
    if child is not None:
        element = scalar_text("_ofhq_e", child)
        quoted = (
            "CASE WHEN _ofhq_e IS NULL THEN 'NULL' ELSE "
            f"'\"' || replace(replace({element}, '\\', '\\\\'), '\"', '\\\"') || '\"' END"
        )
        as_list = f"CAST({expr} AS {child}[])" if dtype.id == "array" else expr
        return (
            f"CASE WHEN {expr} IS NULL THEN NULL ELSE '{{' || array_to_string("
            f"list_transform({as_list}, lambda _ofhq_e: {quoted}), ',') || '}}' END"
        )
    if dtype.id in NESTED:
        return f"replace(CAST(to_json({expr}) AS VARCHAR), '\\u0000', '')"
    return scalar_text(expr, dtype)


# ---- sources -------------------------------------------------------------------------------


def read_files(paths: Sequence[Path]) -> str:
    files = ", ".join(duck_literal(str(p)) for p in sorted(paths))
    return f"read_parquet([{files}], union_by_name = true)"


def describe(con: duckdb.DuckDBPyConnection, source: str) -> list[tuple[str, duckdb.DuckDBPyType]]:
    relation = con.sql(f"SELECT * FROM {source}")
    return list(zip(relation.columns, relation.types, strict=True))


def creator_of(path: Path) -> str:
    """lake/marts/<creator>/<run_id>/<table>.parquet → <creator>: every mart file holds the
    rows of the creator it is filed under, and only those."""
    return path.parent.parent.name


def published_name(files: Sequence[Path]) -> str:
    """How the publish state names the files a creator's rows of a table were loaded from (a
    mart's parts, one a line): another set of files is another version."""
    return "\n".join(str(path) for path in sorted(files))


@dataclass
class TableLoad:
    """What one publish does to one table."""

    table: str
    columns: list[tuple[str, duckdb.DuckDBPyType]]  # every column the table must have
    source: str | None  # DuckDB FROM clause of the rows to load (None: load nothing)
    load_columns: list[tuple[str, duckdb.DuckDBPyType]] = field(default_factory=list)
    # Creator-keyed tables: the creators whose rows are replaced (None: the whole table), and
    # the files each of them is loaded from (`published_name`).
    replace_creators: list[str] | None = None
    files: dict[str, str] = field(default_factory=dict)

    @property
    def creator_keyed(self) -> bool:
        return any(name == "creator_id" for name, _ in self.columns)


def plan_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    paths: Sequence[Path],
    creator_id: str | None,
    published: Mapping[str, str],
) -> TableLoad:
    """The load of one table. With a creator, his rows are replaced, and so are those of every
    other creator whose current file is not the one Postgres holds (a table new to Postgres, a
    database attached to an existing lake, a publish that failed earlier): Postgres converges
    to the lake's current marts at the cost of what changed only."""
    source = read_files(paths)
    columns = describe(con, source)
    load = TableLoad(table, columns, source, columns)
    if not load.creator_keyed:
        return load  # replaced whole
    current: dict[str, list[Path]] = {}
    for path in sorted(paths):  # a mart's parts are files of the same creator
        current.setdefault(creator_of(path), []).append(path)
    if creator_id is None:
        stale = sorted(current)
    else:
        stale = sorted(c for c, files in current.items()
                       if c == creator_id or published.get(c) != published_name(files))
    gone = sorted(set(published) - set(current))
    load.replace_creators = None if creator_id is None else sorted({*stale, *gone, creator_id})
    load.files = {c: published_name(current[c]) for c in stale}
    load.source, load.load_columns = None, []
    if stale:
        own = read_files([path for c in stale for path in current[c]])
        load.load_columns = describe(con, own)
        load.source = f"{own} WHERE creator_id IN ({', '.join(duck_literal(c) for c in stale)})"
    return load


def system_stats_load(
    con: duckdb.DuckDBPyConnection, counts: Mapping[str, int], published_at: datetime
) -> TableLoad:
    """system_stats as in the analysts' file: (layer, table_name, row_count, refreshed_at)."""
    rows = [key.split(".", 1) if "." in key else ["", key] for key in sorted(counts)]
    frame = pa.table(
        {
            "layer": pa.array([layer for layer, _ in rows], pa.string()),
            "table_name": pa.array([name for _, name in rows], pa.string()),
            "row_count": pa.array([int(counts[key]) for key in sorted(counts)], pa.int64()),
            "refreshed_at": pa.array(
                [published_at] * len(rows), pa.timestamp("us", tz="UTC")
            ),
        }
    )
    con.register("_ofhq_system_stats", frame)
    columns = describe(con, "_ofhq_system_stats")
    return TableLoad(SYSTEM_STATS, columns, "_ofhq_system_stats", columns)


# ---- COPY ----------------------------------------------------------------------------------


class CsvStream:
    """A file-like object over Arrow batches of text columns, read by `copy_expert` as CSV.

    A thread of its own runs DuckDB and the CSV writer (both release the GIL) a few batches
    ahead, so rendering the next rows overlaps with Postgres parsing the previous ones.
    """

    def __init__(self, batches: Iterator[pa.RecordBatch], ahead: int = 2) -> None:
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._chunk = memoryview(b"")
        self._pos = 0
        self._done = False
        self.rows = 0
        self._thread = threading.Thread(
            target=self._produce, args=(batches,), name="ofhq-copy-csv", daemon=True
        )
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, batches: Iterator[pa.RecordBatch]) -> None:
        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                sink = io.BytesIO()
                pacsv.write_csv(batch, sink, CSV_OPTIONS)
                self.rows += batch.num_rows
                if not self._put(sink.getvalue()):
                    return
            self._put(None)
        except BaseException as exc:  # handed to the reading thread
            self._put(exc)

    def read(self, size: int = -1) -> bytes:
        if self._pos >= len(self._chunk):
            if self._done:
                return b""
            item = self._queue.get()
            if item is None:
                self._done = True
                return b""
            if isinstance(item, BaseException):
                self._done = True
                raise item
            self._chunk, self._pos = memoryview(item), 0
        end = len(self._chunk) if size is None or size < 0 else self._pos + size
        out = bytes(self._chunk[self._pos : end])
        self._pos += len(out)
        return out

    readline = read  # psycopg2 only calls read(); defined for file-like completeness

    def close(self) -> None:
        """Stop the producer (after COPY, or when COPY failed half-way) and wait for it."""
        self._stop.set()
        self._thread.join()


def existing_columns(cur, table: str) -> dict[str, str]:
    cur.execute(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod)
        FROM pg_attribute a
        WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum
        """,
        (pgsql.Identifier(SCHEMA, table).as_string(cur),),
    )
    return dict(cur.fetchall())


def ensure_table(cur, load: TableLoad) -> list[str]:
    """Create the table, or add/convert columns; returns what was changed (for metadata)."""
    wanted = [(name, pg_type(dtype)) for name, dtype in load.columns]
    return ensure_columns(cur, load.table, wanted, creator_keyed=load.creator_keyed)


def ensure_columns(
    cur, table: str, wanted: Sequence[tuple[str, str]], *, creator_keyed: bool
) -> list[str]:
    """Create the table with these (column, Postgres type), or add/convert columns."""
    table_id = pgsql.Identifier(SCHEMA, table)
    have = existing_columns(cur, table)
    if not have:
        cur.execute(
            pgsql.SQL("CREATE TABLE {} ({})").format(
                table_id,
                pgsql.SQL(", ").join(
                    pgsql.SQL("{} {}").format(pgsql.Identifier(name), pgsql.SQL(kind))
                    for name, kind in wanted
                ),
            )
        )
        if creator_keyed:
            cur.execute(
                pgsql.SQL("CREATE INDEX {} ON {} (creator_id)").format(
                    pgsql.Identifier(f"{table}_creator_id_idx"), table_id
                )
            )
        return [f"created {table}"]
    changes = []
    for name, kind in wanted:
        column = pgsql.Identifier(name)
        if name not in have:
            cur.execute(
                pgsql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                    table_id, column, pgsql.SQL(kind)
                )
            )
            changes.append(f"added {table}.{name} {kind}")
        elif have[name] != kind:
            cur.execute(
                pgsql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}::{}").format(
                    table_id, column, pgsql.SQL(kind), column, pgsql.SQL(kind)
                )
            )
            changes.append(f"converted {table}.{name} {have[name]} → {kind}")
    return changes


def copy_rows(cur, con: duckdb.DuckDBPyConnection, load: TableLoad) -> int:
    if load.source is None or not load.load_columns:
        return 0
    select = ", ".join(
        f"{text_expr(name, dtype)} AS {quote_duck(name)}" for name, dtype in load.load_columns
    )
    batches = con.execute(f"SELECT {select} FROM {load.source}").fetch_record_batch(BATCH_ROWS)
    stream = CsvStream(iter(batches))
    statement = pgsql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        pgsql.Identifier(SCHEMA, load.table),
        pgsql.SQL(", ").join(pgsql.Identifier(name) for name, _ in load.load_columns),
    )
    try:
        cur.copy_expert(statement.as_string(cur), stream, size=1 << 20)
    finally:
        stream.close()
    return stream.rows


def replace_rows(cur, con: duckdb.DuckDBPyConnection, load: TableLoad) -> int:
    table_id = pgsql.Identifier(SCHEMA, load.table)
    if load.replace_creators is not None:
        cur.execute(
            pgsql.SQL("DELETE FROM {} WHERE creator_id = ANY(%s)").format(table_id),
            (load.replace_creators,),
        )
    else:  # DELETE, not TRUNCATE: readers already inside a query keep their snapshot
        cur.execute(pgsql.SQL("DELETE FROM {}").format(table_id))
    return copy_rows(cur, con, load)


def refresh_projection(
    cur, name: str, source: str, keep: frozenset[str], creators: list[str] | None
) -> tuple[int, list[str]]:
    """Table NAME: the columns KEEP of table SOURCE, with SOURCE's rows of CREATORS rewritten
    (None: every row). A projection that is new or whose columns change is rewritten whole.
    Returns the rows written and what was changed."""
    have_source = existing_columns(cur, source)
    wanted = [(column, kind) for column, kind in have_source.items() if column in keep]
    if not wanted:
        return 0, []
    keyed = any(column == "creator_id" for column, _ in wanted)
    table_id = pgsql.Identifier(SCHEMA, name)
    changes = ensure_columns(cur, name, wanted, creator_keyed=keyed)
    # A column the projection must no longer carry is dropped, not left NULL: what it held
    # was refused to its readers.
    for column in existing_columns(cur, name):
        if column not in {c for c, _ in wanted}:
            cur.execute(
                pgsql.SQL("ALTER TABLE {} DROP COLUMN {}").format(
                    table_id, pgsql.Identifier(column)
                )
            )
            changes.append(f"dropped {name}.{column}")
    if changes or not keyed:
        creators = None
    columns = pgsql.SQL(", ").join(pgsql.Identifier(column) for column, _ in wanted)
    insert = pgsql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
        table_id, columns, columns, pgsql.Identifier(SCHEMA, source)
    )
    if creators is None:
        cur.execute(pgsql.SQL("DELETE FROM {}").format(table_id))
        cur.execute(insert)
    else:
        if not creators:
            return 0, changes
        cur.execute(
            pgsql.SQL("DELETE FROM {} WHERE creator_id = ANY(%s)").format(table_id), (creators,)
        )
        cur.execute(insert + pgsql.SQL(" WHERE creator_id = ANY(%s)"), (creators,))
    return cur.rowcount, changes


# Which file each creator's rows of each table were loaded from: the lake's files are never
# rewritten (a run writes new ones), so an unchanged path means unchanged rows. Kept apart from
# `ofhq_marts` so that no reader role is ever granted it.
STATE_SCHEMA = "ofhq_marts_state"
STATE_TABLE = "published_files"


def ensure_state(cur) -> None:
    cur.execute(
        pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(STATE_SCHEMA))
    )
    cur.execute(
        pgsql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (table_name TEXT NOT NULL, creator_id TEXT NOT NULL,"
            " file TEXT NOT NULL, published_at TIMESTAMPTZ NOT NULL,"
            " PRIMARY KEY (table_name, creator_id))"
        ).format(pgsql.Identifier(STATE_SCHEMA, STATE_TABLE))
    )


def published_files(cur) -> dict[str, dict[str, str]]:
    cur.execute(
        pgsql.SQL("SELECT table_name, creator_id, file FROM {}").format(
            pgsql.Identifier(STATE_SCHEMA, STATE_TABLE)
        )
    )
    state: dict[str, dict[str, str]] = {}
    for table, creator, file in cur.fetchall():
        state.setdefault(table, {})[creator] = file
    return state


def record_files(cur, load: TableLoad, published_at: datetime) -> None:
    state = pgsql.Identifier(STATE_SCHEMA, STATE_TABLE)
    if load.replace_creators is None:
        cur.execute(pgsql.SQL("DELETE FROM {} WHERE table_name = %s").format(state), (load.table,))
    else:
        cur.execute(
            pgsql.SQL("DELETE FROM {} WHERE table_name = %s AND creator_id = ANY(%s)").format(
                state
            ),
            (load.table, load.replace_creators),
        )
    for creator, file in sorted(load.files.items()):
        cur.execute(
            pgsql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s)").format(state),
            (load.table, creator, file, published_at),
        )


@dataclass
class PublishResult:
    rows: dict[str, int]  # table → rows written by this publish
    creators: dict[str, list[str]]  # creator-keyed table → creators whose rows were reloaded
    changes: list[str]  # tables created, columns added or converted
    seconds: float


def publish_to_postgres(
    url: str,
    current_marts: Mapping[str, Sequence[Path]],
    creator_id: str | None,
    *,
    system_stats: Mapping[str, int] | None = None,
    published_at: datetime | None = None,
    role_prefix: str | None = None,
    threads: int = 2,
) -> PublishResult:
    """Publish the current marts to schema `ofhq_marts` in one transaction.

    `current_marts` is `Lake.current_marts()` (table → the current files of every creator).
    With `creator_id`, that creator's rows of every creator-keyed table are replaced (and any
    other creator's whose current file Postgres does not hold yet); without, every table is
    replaced whole. `system_stats` (`"layer.table"` → row count, as `publish` counts them)
    replaces table system_stats, stamped `published_at`. Tables without `creator_id` are
    replaced whole every time.
    """
    start = time.perf_counter()
    published_at = published_at or datetime.now(UTC)
    con = duckdb.connect(config={"threads": threads})
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows: dict[str, int] = {}
        creators: dict[str, list[str]] = {}
        changes: list[str] = []
        with connect(url) as conn:
            with conn.cursor() as cur:
                require_rls_bypass(cur, "publish the marts")
                lock_marts(cur)
                cur.execute(
                    pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(SCHEMA))
                )
                ensure_state(cur)
                state = published_files(cur)
                # Table → the creators whose rows this publish rewrote (None: all of them).
                rewritten: dict[str, list[str] | None] = {}
                tables = {
                    table: [Path(p) for p in paths if Path(p).exists()]
                    for table, paths in current_marts.items()
                    if not (system_stats is not None and table == SYSTEM_STATS)
                }
                for table, paths in sorted(tables.items()):
                    if not paths:
                        continue
                    try:
                        load = plan_table(con, table, paths, creator_id, state.get(table, {}))
                        changes += ensure_table(cur, load)
                        rows[table] = replace_rows(cur, con, load)
                        rewritten[table] = load.replace_creators
                        if load.creator_keyed:
                            record_files(cur, load, published_at)
                            creators[table] = sorted(load.files)
                    except Exception as exc:
                        raise RuntimeError(
                            f"publishing {table} to {safe_url(url)} failed: {exc}"
                        ) from exc
                if system_stats is not None:
                    load = system_stats_load(con, system_stats, published_at)
                    changes += ensure_table(cur, load)
                    rows[SYSTEM_STATS] = replace_rows(cur, con, load)
                for name, (source, keep) in sorted(PROJECTIONS.items()):
                    written, changed = refresh_projection(
                        cur, name, source, keep, rewritten.get(source, [])
                    )
                    changes += changed
                    if source in rewritten or changed:
                        rows[name] = written
            apply_access(conn, role_prefix)
            conn.commit()
    finally:
        con.close()
    return PublishResult(rows, creators, changes, time.perf_counter() - start)
