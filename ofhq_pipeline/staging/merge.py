"""Incremental staging: each staging table merges only the raw batches it has not staged yet.

A staging model (sql/staging/<table>.sql) computes, per entity (a fan, a transaction, a message,
a vault item), one row from every sighting of that entity in raw. Merging keeps that meaning
exactly, without re-reading history:

1. The model runs over the new batches alone (`fresh`).
2. A fresh row equal to the staged one in everything but its last-seen column changes nothing
   but that column (a fan re-listed unchanged by the whole-feed read moves `last_fetched_at`).
   Every other entity the new batches name is the work set (for transactions, whose regressions
   count sightings in arrival order, see `StagingMerge.fresh_in_order`).
3. The model runs again over every sighting of the work set's entities, from all of raw (whose
   compacted months carry the entity keys, sorted, so this reads a little of each file), and
   those rows replace the staged ones.
4. What changed is written beside the table's base file as its changes (`Lake.staged_select`
   reads the two as one table), so a merge writes what changed, not the table. When the changes
   reach an eighth of the base they are folded into it: a rewrite now and then, whose cost spread
   over the merges between two folds stays a small share of what they changed. Transactions
   fold at once a change to a transaction the base holds (a refund, a chargeback), so that their
   changes only add: marts.transactions links the base and takes them beside it.

So a merge and a rebuild from raw (`ofhq sync --full`) give the same table; a test proves it over
many interleaved syncs, webhooks and chargebacks. The rejects are row by row: a merge appends
those of the new batches.

Which batches a staged table holds is recorded beside it (`lake/staging/_merged/`), written after
the table: a merge cut short between the two is merged again, which changes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from ofhq_pipeline import registry
from ofhq_pipeline.lake import (
    RAW_TABLES,
    REJECTS,
    STAGED_KEYS,
    Lake,
    atomic_write,
    file_list,
    is_month_file,
    parquet_rows,
    quote,
    raw_columns,
    raw_select,
    sql_text,
)

# The entity keys a raw row names, per kind of entity, as the staging models cast them. The
# compacted months store them as columns `key_<kind>` (sorted), batches compute them on read.
RAW_KEYS: dict[str, dict[str, str]] = {
    "fans": {"fan": "TRY_CAST(payload ->> '$.id' AS BIGINT)"},
    "chats": {
        "fan": "TRY_CAST(payload ->> '$.fan.id' AS BIGINT)",
        "message": "TRY_CAST(payload ->> '$.lastMessage.id' AS BIGINT)",
    },
    "vault_media": {"media": "TRY_CAST(payload ->> '$.id' AS BIGINT)"},
    "transactions": {"transaction": "payload ->> '$.id'"},
    "chargebacks": {"transaction": "payload ->> '$.payment.id'"},
    "messages": {"message": "TRY_CAST(payload ->> '$.id' AS BIGINT)"},
    "webhook_events": {
        "fan": "CASE WHEN event LIKE 'subscriptions.%' "
        "THEN TRY_CAST(payload ->> '$.user.id' AS BIGINT) END",
        "transaction": "CASE WHEN event = 'transactions.new' THEN payload ->> '$.id' END",
        "message": "CASE WHEN event IN ('messages.received', 'messages.sent') "
        "THEN TRY_CAST(payload ->> '$.id' AS BIGINT) END",
    },
}
# Beyond this many entities the work set is joined rather than listed in the query text.
MAX_LISTED_KEYS = 20_000
# The changes are folded into the base once they hold this share of its rows.
FOLD_SHARE = 1 / 8
KEY_TYPES = {"fan": "BIGINT", "message": "BIGINT", "media": "BIGINT", "transaction": "VARCHAR"}


def replaces_base(con: duckdb.DuckDBPyConnection, key: str, base: str, changes: str) -> bool:
    """Whether a row of `changes` replaces or removes one of `base` (FROM expressions of a
    staged table's base and changes, keyed by `key`), rather than adding an entity the base
    does not hold. The base is probed with the changes' keys: its own are never hashed."""
    (found,) = con.execute(
        f"SELECT (SELECT count(*) FROM {changes} WHERE _removed) + (SELECT count(*) FROM {base} "
        f"WHERE {key} IN (SELECT _replaced FROM {changes}))").fetchone()
    return found > 0


def key_columns(table: str) -> str:
    """`<expr> AS key_<kind>, ...` for a raw table's entity keys."""
    return ", ".join(f"{expr} AS key_{kind}" for kind, expr in RAW_KEYS[table].items())


@dataclass(frozen=True)
class Merge:
    """How a staged table merges new sightings."""

    table: str
    kind: str  # the entity each row describes: fan, transaction, message, media
    reads: tuple[str, ...]  # the raw tables its model reads
    last_seen: str | None = None  # the column a re-sighting with nothing new still moves
    # Whether a fresh row equal to the staged one leaves the entity out of the work set.
    unchanged_is_nothing: bool = True
    # A column that counts sightings by the order they arrived in (a transaction's status
    # regressions): see `StagingMerge.fresh_in_order`.
    counted_in_order: str | None = None
    # A table computed from another staged table's rows: its work set includes that one's.
    follows: str | None = None
    # Whether changes that replace or remove a row of the base are folded into it at once, so
    # that the changes beside the base only ever add rows: marts.transactions is then the base
    # linked with the changes beside it (defs/marts/money.py), a purchase a sync brings costs
    # what it adds, and a refund or chargeback rewrites the base in staging instead of the mart
    # at every run until the next fold.
    fold_replacements: bool = False

    @property
    def key(self) -> str:
        """The entity's column in the staged table."""
        return STAGED_KEYS[self.table]


MERGES: dict[str, Merge] = {m.table: m for m in (
    Merge("fans", "fan", ("fans", "webhook_events"), last_seen="last_fetched_at"),
    Merge("subscription_periods", "fan", ("webhook_events",), unchanged_is_nothing=False,
          follows="fans"),
    Merge("transactions", "transaction", ("transactions", "chargebacks", "webhook_events"),
          counted_in_order="status_regressions", fold_replacements=True),
    Merge("messages", "message", ("messages", "chats", "webhook_events"),
          last_seen="last_seen_at"),
    Merge("chats", "fan", ("chats",), last_seen="last_fetched_at"),
    Merge("vault_media", "media", ("vault_media",), last_seen="last_fetched_at"),
)}


@dataclass
class Staged:
    """What one staging model did in a run."""

    table: str
    rows: int
    mode: str  # rebuilt | merged | unchanged
    new_batches: int = 0
    work_set: int = 0  # entities recomputed from history
    last_seen_only: int = 0  # entities whose re-sighting moved only their last-seen column
    changed: bool = True  # whether any row other than a last-seen column differs
    seconds: float = 0.0
    # The file this run wrote: the whole table, or its changes (what the schema check
    # validates; the base was validated when it was written). None: it wrote nothing.
    written: Path | None = None


@dataclass
class MergeState:
    """Per raw table, the batch files (names) a staged table holds."""

    batches: dict[str, set[str]] = field(default_factory=dict)
    # When the newest sighting it holds arrived (its raw row's fetched_at); None: it holds none.
    newest: datetime | None = None

    @classmethod
    def read(cls, path: Path) -> MergeState | None:
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            newest = data.get("newest")
            return cls({table: set(names) for table, names in data["batches"].items()},
                       datetime.fromisoformat(newest) if newest else None)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # unreadable: the table is rebuilt from raw, which is always right

    def write(self, path: Path) -> None:
        data = {"batches": {table: sorted(names) for table, names in self.batches.items()},
                "newest": self.newest.isoformat() if self.newest else None}
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data)))


def state_path(store: Lake, table: str, creator_id: str) -> Path:
    """`lake/staging/_merged/<table>/<creator>.json`: the batches the staged table holds."""
    return store.staging_path(table, creator_id, layer="staging/_merged").with_suffix(".json")


def staged_batches(store: Lake, creator_id: str) -> dict[str, set[str]]:
    """Per raw table, the batches every staged table holds (what compaction may fold away)."""
    held: dict[str, set[str]] | None = None
    for model in registry.models(layer="staging"):
        state = MergeState.read(state_path(store, model.table, creator_id))
        if state is None or not store.staging_path(model.table, creator_id).exists():
            return {table: set() for table in RAW_TABLES}
        if held is None:
            held = {t: set(state.batches.get(t, ())) for t in RAW_TABLES}
        else:
            held = {t: held[t] & state.batches.get(t, set()) for t in RAW_TABLES}
    return held or {table: set() for table in RAW_TABLES}


@contextmanager
def raw_views(con: duckdb.DuckDBPyConnection, sources: dict[str, str],
              restore: dict[str, str]) -> Iterator[None]:
    """Point `raw.<table>` at other rows while inside (the new batches, the work set's
    sightings), then back at `restore` (all of raw)."""
    try:
        for table, select in sources.items():
            con.execute(f"CREATE OR REPLACE VIEW raw.{table} AS {select}")
        yield
    finally:
        for table in sources:
            con.execute(f"CREATE OR REPLACE VIEW raw.{table} AS {restore[table]}")


def keyed_history(table: str, files: list[Path]) -> str:
    """All rows of a raw table's files with their entity keys: stored in the compacted months,
    computed for the batches."""
    months = [f for f in files if is_month_file(f)]
    batches = [f for f in files if not is_month_file(f)]
    parts = [f"SELECT *, {key_columns(table)} FROM ({raw_select(table, batches)})"]
    if months:
        columns = [*raw_columns(table), *(f"key_{kind}" for kind in RAW_KEYS[table])]
        parts.append(f"SELECT {', '.join(columns)} FROM read_parquet({file_list(months)})")
    return "\nUNION ALL\n".join(parts)


class StagingMerge:
    """Builds a creator's staging tables in one session: merged, or rebuilt from raw.

    It reads the raw files listed when it starts, and records exactly those as staged: a batch
    landing meanwhile is merged by the next run.
    """

    def __init__(self, store: Lake, con: duckdb.DuckDBPyConnection, creator_id: str) -> None:
        self.store, self.con, self.creator_id = store, con, creator_id
        self.files = {t: store.raw_files(t, creator_id) for t in RAW_TABLES}
        self.batches = {t: [f for f in files if not is_month_file(f)]
                        for t, files in self.files.items()}
        self.all_raw = {t: raw_select(t, files) for t, files in self.files.items()}
        for table, select in self.all_raw.items():
            con.execute(f"CREATE OR REPLACE VIEW raw.{table} AS {select}")
        self.done: dict[str, Staged] = {}

    def build(self, table: str, *, full: bool) -> Staged:
        started = time.perf_counter()
        path = self.store.staging_path(table, self.creator_id)
        state = None if full else MergeState.read(state_path(self.store, table, self.creator_id))
        merge = MERGES.get(table)
        if merge and merge.follows and self.done[merge.follows].mode == "rebuilt":
            state = None  # what it is computed from was rebuilt: so is it
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE work_set_{table} (key "
                         f"{KEY_TYPES[merge.kind] if merge else 'VARCHAR'})")
        reads = {t: files for t, files in self.batches.items() if merge is None or t in merge.reads}
        if state is None or not path.exists():
            new = {t: self.files[t] for t in reads}  # everything it reads
        else:
            new = {t: [f for f in files if f.name not in state.batches.get(t, set())]
                   for t, files in reads.items()}
        # When the new sightings arrived, for a table that counts them by arrival.
        first, last = (self.arrival_range(new) if merge and merge.counted_in_order
                       else (None, None))
        if state is None or not path.exists():
            staged = self.rebuild(table, path)
        elif not any(new.values()) and not self.followed_changed(merge):
            staged = Staged(table, self.rows(table), "unchanged", changed=False)
        elif merge is None:
            staged = self.append_rejects(path, new)
        else:
            # No newest recorded: the table holds no sighting yet.
            arrived_after = first is not None and (state.newest is None or first > state.newest)
            staged = self.merge(table, merge, new, arrived_after)
        newest = max((t for t in (last, state.newest if state else None) if t is not None),
                     default=None)
        MergeState({t: {f.name for f in files} for t, files in self.batches.items()},
                   newest).write(state_path(self.store, table, self.creator_id))
        self.con.execute(f"CREATE OR REPLACE VIEW staging.{table} AS {self.staged(table)}")
        staged.seconds = round(time.perf_counter() - started, 3)
        self.done[table] = staged
        return staged

    def staged(self, table: str) -> str:
        """The staged table (its base with its changes applied), as a SELECT."""
        return self.store.staged_select(table, self.creator_id)

    def followed_changed(self, merge: Merge | None) -> bool:
        if merge is None or merge.follows is None:
            return False
        return self.done[merge.follows].work_set > 0

    def rows(self, table: str) -> int:
        """The staged table's rows: its base's, less those its changes replace, plus theirs."""
        base = self.store.staging_path(table, self.creator_id)
        changes = self.store.staging_changes_path(table, self.creator_id)
        rows = parquet_rows(self.con, base)
        if table in MERGES and changes.exists():
            key = MERGES[table].key
            rows += self.con.execute(f"""
                SELECT count(*) FILTER (WHERE NOT _removed)
                    - (SELECT count(*) FROM read_parquet({quote(base)}) WHERE {key} IN
                        (SELECT _replaced FROM read_parquet({quote(changes)})))
                FROM read_parquet({quote(changes)})""").fetchone()[0]
        return rows

    def rebuild(self, table: str, path: Path) -> Staged:
        rows = self.store.write_model(self.con, f"staging/{table}", path)
        self.empty_changes(table)
        return Staged(table, rows, "rebuilt",
                      new_batches=sum(len(files) for files in self.batches.values()),
                      written=path)

    def empty_changes(self, table: str) -> None:
        """The base holds every change now. (A run cut short before this leaves changes equal to
        the base's rows of the same entities: the same table.)"""
        if table in MERGES:
            base = quote(self.store.staging_path(table, self.creator_id))
            self.write(self.store.staging_changes_path(table, self.creator_id),
                       f"SELECT *, {MERGES[table].key} AS _replaced, false AS _removed "
                       f"FROM read_parquet({base}) LIMIT 0")

    def write(self, path: Path, select: str) -> None:
        atomic_write(path, lambda tmp: self.con.execute(
            f"COPY ({select}) TO {quote(tmp)} (FORMAT parquet, COMPRESSION zstd)"))

    def run_over(self, sources: dict[str, str], table: str, into: str) -> None:
        """The staging model `table` over other raw rows, into a temp table."""
        with raw_views(self.con, sources, self.all_raw):
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {into} AS {sql_text('staging/' + table)}")

    def append_rejects(self, path: Path, new: dict[str, list[Path]]) -> Staged:
        """Rejects are judged row by row: those of the new batches join the staged ones (less
        any of the same batches, so merging a batch twice adds nothing)."""
        self.run_over({t: raw_select(t, files) for t, files in new.items()}, REJECTS,
                      "new_rejects")
        added = self.con.execute("SELECT count(*) FROM new_rejects").fetchone()[0]
        names = [f.stem for files in new.values() for f in files]
        self.write(path, f"""
            SELECT * FROM read_parquet({quote(path)}) WHERE NOT list_contains(?, batch_id)
            UNION ALL BY NAME SELECT * FROM new_rejects""".replace("?", _list(names)))
        return Staged(REJECTS, self.rows(REJECTS), "merged", new_batches=len(names),
                      work_set=added, changed=added > 0,
                      written=path)

    def merge(self, table: str, merge: Merge, new: dict[str, list[Path]],
              arrived_after: bool) -> Staged:
        """`arrived_after`: every new sighting arrived after every one the table holds."""
        con, work = self.con, f"work_set_{table}"
        new_batches = sum(len(files) for files in new.values())
        con.execute(f"CREATE OR REPLACE TEMP TABLE last_seen (key {KEY_TYPES[merge.kind]}, "
                    "seen TIMESTAMPTZ)")
        if merge.counted_in_order and arrived_after:
            self.fresh_in_order(table, merge, new)
        elif merge.counted_in_order:
            self.named_by(table, merge, new)  # arrived among what is held: recompute them all
        elif merge.unchanged_is_nothing:
            self.run_over({t: raw_select(t, files) for t, files in new.items()}, table, "fresh")
            if con.execute(f"SELECT count(*) FROM fresh WHERE {merge.key} IS NULL").fetchone()[0]:
                # An entity without a key is grouped with all others without one: rebuild.
                return self.rebuild(table, self.store.staging_path(table, self.creator_id))
            same = f"* EXCLUDE ({merge.last_seen})" if merge.last_seen else "*"
            con.execute(f"""
                INSERT INTO {work}
                SELECT {merge.key} FROM fresh
                EXCEPT
                SELECT {merge.key} FROM (SELECT {same} FROM fresh
                                         INTERSECT SELECT {same} FROM {self.held(table, merge)})""")
            if merge.last_seen:
                con.execute(f"""
                    INSERT INTO last_seen
                    SELECT f.{merge.key}, max(f.{merge.last_seen}) FROM fresh AS f
                    ANTI JOIN {work} AS w ON w.key = f.{merge.key}
                    GROUP BY ALL""")
        else:
            self.named_by(table, merge, new)
            if merge.follows:
                con.execute(f"INSERT INTO {work} SELECT key FROM work_set_{merge.follows}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {work} AS SELECT DISTINCT key FROM {work}")
        recomputed = con.execute(f"SELECT count(*) FROM {work}").fetchone()[0]
        moved = con.execute("SELECT count(*) FROM last_seen").fetchone()[0]
        if recomputed == 0 and moved == 0:
            return Staged(table, self.rows(table), "unchanged", new_batches=new_batches,
                          changed=False)
        self.recompute(table, merge)
        written = self.write_changes(table, merge)
        return Staged(table, self.rows(table), "merged", new_batches=new_batches,
                      work_set=recomputed, last_seen_only=moved, changed=recomputed > 0,
                      written=written)

    def held(self, table: str, merge: Merge) -> str:
        """The staged rows of the entities in `fresh`, into `held`: what its rows are compared
        with, and the rows whose last-seen column a re-sighting moves."""
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE held AS SELECT * FROM "
                         f"({self.staged(table)}) WHERE {merge.key} IN "
                         f"(SELECT {merge.key} FROM fresh)")
        return "held"

    def named_by(self, table: str, merge: Merge, new: dict[str, list[Path]]) -> None:
        """Every entity the new batches name joins the work set."""
        for raw_table, files in new.items():
            expr = RAW_KEYS[raw_table].get(merge.kind)
            if files and expr:
                self.con.execute(
                    f"INSERT INTO work_set_{table} SELECT DISTINCT {expr} "
                    f"FROM ({raw_select(raw_table, files)}) WHERE {expr} IS NOT NULL")

    def arrival_range(self, tables: dict[str, list[Path]]) -> tuple[datetime | None, ...]:
        """(first, last) fetched_at of the rows of these raw files."""
        selects = [f"SELECT fetched_at FROM ({raw_select(t, files)})"
                   for t, files in tables.items() if files]
        if not selects:
            return None, None
        return self.con.execute(
            "SELECT min(fetched_at), max(fetched_at) FROM ("
            + " UNION ALL ".join(selects) + ")").fetchone()

    def fresh_in_order(self, table: str, merge: Merge, new: dict[str, list[Path]]) -> None:
        """The work set of a table that counts sightings by arrival, when every new one arrived
        after every held one.

        An entity is left out when its new sightings change nothing: the model over the new
        sightings, each seen a second time after all of them, gives the staged row with a count
        of 0. Seen twice, a sighting counts as a regression unless its status is the highest
        of all; so a count of 0 with the staged status means every new sighting has the status
        the entity already holds, and none counts against the sightings held before.
        """
        column, work = merge.counted_in_order, f"work_set_{table}"
        twice = {t: f"{raw_select(t, files)} UNION ALL SELECT * REPLACE "
                    f"(fetched_at + INTERVAL 1000 YEAR AS fetched_at) FROM ({raw_select(t, files)})"
                 for t, files in new.items()}
        self.run_over(twice, table, "fresh")
        self.con.execute(f"""
            INSERT INTO {work}
            SELECT {merge.key} FROM fresh
            EXCEPT
            SELECT {merge.key} FROM (
                SELECT * EXCLUDE ({column}) FROM fresh WHERE {column} = 0
                INTERSECT SELECT * EXCLUDE ({column}) FROM {self.held(table, merge)})""")

    def recompute(self, table: str, merge: Merge) -> None:
        """The work set's rows recomputed from every sighting of its entities, into
        `recomputed`."""
        work = f"work_set_{table}"
        found = self.work_set_filter(merge, work)
        sources = {
            raw_table: f"SELECT * EXCLUDE ({', '.join('key_' + k for k in RAW_KEYS[raw_table])}) "
            f"FROM ({keyed_history(raw_table, self.files[raw_table])}) "
            f"WHERE key_{merge.kind} IN {found}"
            for raw_table in merge.reads
        }
        with self.followed_view(merge, work):
            self.run_over(sources, table, "recomputed")

    def write_changes(self, table: str, merge: Merge) -> Path:
        """The table's changes with this merge's: the earlier changes outside the work set, the
        staged rows whose last-seen column moved, the recomputed rows, and a `_removed` mark for a
        work-set entity left without a row. Folded into the base when they have grown; returns
        the file written."""
        con, key, work = self.con, merge.key, f"work_set_{table}"
        base_path = self.store.staging_path(table, self.creator_id)
        base = f"read_parquet({quote(base_path)})"
        path = self.store.staging_changes_path(table, self.creator_id)
        earlier = f"read_parquet({quote(path)})" if path.exists() else None

        def moved(alias: str) -> str:
            """The columns of `alias`, its last-seen column moved where re-sighted."""
            if not merge.last_seen:
                return f"{alias}.*"
            column = merge.last_seen
            return (f"{alias}.* REPLACE (greatest({alias}.{column}, "
                    f"coalesce(t.seen, {alias}.{column})) AS {column})")

        seen_join = "LEFT JOIN last_seen AS t ON t.key = {}" if merge.last_seen else ""
        parts = []
        if earlier:
            parts.append(f"SELECT {moved('c')} FROM {earlier} AS c "
                         f"{seen_join.format('c._replaced')} "
                         f"ANTI JOIN {work} AS w ON w.key = c._replaced")
        if merge.last_seen:  # `held` holds the rows of every re-sighted entity
            parts.append(f"SELECT {moved('b')}, b.{key} AS _replaced, false AS _removed "
                         f"FROM held AS b JOIN last_seen AS t ON t.key = b.{key} "
                         f"ANTI JOIN {work} AS w ON w.key = b.{key}"
                         + (f" ANTI JOIN {earlier} AS c ON c._replaced = b.{key}" if earlier else ""))
        parts.append(f"SELECT *, {key} AS _replaced, false AS _removed FROM recomputed")
        parts.append(f"SELECT {sql_literal(self.creator_id)} AS creator_id, w.key AS _replaced, "
                     f"true AS _removed FROM {work} AS w "
                     f"ANTI JOIN recomputed AS r ON r.{key} = w.key")
        con.execute("CREATE OR REPLACE TEMP TABLE changes AS "
                    + "\nUNION ALL BY NAME ".join(parts))
        (changes,) = con.execute("SELECT count(*) FROM changes").fetchone()
        if changes >= FOLD_SHARE * parquet_rows(con, base_path) or (
                merge.fold_replacements and replaces_base(con, merge.key, base, "changes")):
            self.write(base_path, f"""
                SELECT b.* FROM {base} AS b ANTI JOIN changes AS c ON c._replaced = b.{key}
                UNION ALL BY NAME
                SELECT * EXCLUDE (_replaced, _removed) FROM changes WHERE NOT _removed""")
            self.empty_changes(table)
            return base_path
        self.write(path, "SELECT * FROM changes")
        return path

    def work_set_filter(self, merge: Merge, work: str) -> str:
        """The work set as an IN list: constants reach the Parquet reader, which then skips
        the row groups of the (key-sorted) compacted months that hold none of them."""
        keys = [k for (k,) in self.con.execute(f"SELECT key FROM {work}").fetchall()]
        if len(keys) > MAX_LISTED_KEYS:
            return f"(SELECT key FROM {work})"
        if not keys:
            return "(NULL)"  # matches nothing
        if KEY_TYPES[merge.kind] == "VARCHAR":
            return "(" + ", ".join(sql_literal(k) for k in keys) + ")"
        return "(" + ", ".join(str(int(k)) for k in keys) + ")"

    @contextmanager
    def followed_view(self, merge: Merge, work: str) -> Iterator[None]:
        """A table computed from another staged one reads only the work set's rows of it."""
        if merge.follows is None:
            yield
            return
        view = f"staging.{merge.follows}"
        source = self.staged(merge.follows)
        self.con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM ({source}) "
                         f"WHERE {merge.key} IN (SELECT key FROM {work})")
        try:
            yield
        finally:
            self.con.execute(f"CREATE OR REPLACE VIEW {view} AS {source}")


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _list(names: list[str]) -> str:
    return "[" + ", ".join(sql_literal(n) for n in names) + "]::VARCHAR[]"
