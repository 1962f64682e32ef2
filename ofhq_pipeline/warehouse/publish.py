"""Publishing: the analysts' DuckDB file and the warehouse catalog, swapped in whole.

Each is written to a temporary file (the analysts' file: a copy with one creator's rows replaced,
or rebuilt) and renamed over the old one: an analyst holding the old
file open keeps reading it undisturbed (and never blocks us), and whoever opens the path next
gets a complete new one. Publishers take a file lock, so two runs never interleave.

After one creator's run, publishing reads what that creator changed: his marts replace his rows,
`fan_agency` catches up by his people, `system_stats` counts his files again (everyone's at
the hourly whole rebuild), and the warehouse catalog creates again only the views whose SELECT
changed (the marts').
"""


from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from ofhq_pipeline import registry
from ofhq_pipeline.lake import (
    RAW_TABLES,
    Lake,
    atomic_write,
    file_list,
    file_lock,
    file_version,
    mart_files,
    parquet_rows,
    quote,
)
from ofhq_pipeline.lifecycle.agency import AgencyRollup, fan_agency_path, write_fan_agency
from ofhq_pipeline.settings import parse_instant
from ofhq_pipeline.source.contract import is_creator_id
from ofhq_pipeline.vault.status import install_analyst_macros

if TYPE_CHECKING:  # the resource that carries the Postgres settings
    from ofhq_pipeline.resources.marts_postgres import MartsPostgresResource

log = logging.getLogger(__name__)


def publish_lock(store: Lake) -> AbstractContextManager[None]:
    return file_lock(store.root / "publish.lock")


def layer_files(store: Lake) -> dict[tuple[str, str], str]:
    """(schema, table) → the files of that lake table for every creator (a glob or a list), for
    every table of the registry that has any."""
    files: dict[tuple[str, str], str] = {}
    for table in RAW_TABLES:
        if any((store.root / "raw" / table).glob("*/*.parquet")):
            files["raw", table] = quote(store.root / "raw" / table / "*" / "*.parquet")
    for layer in ("staging", "intermediate"):
        for model in registry.models(layer=layer):
            folder = store.root / layer / model.table
            if any(folder.glob("*.parquet")):
                files[layer, model.table] = quote(folder / "*.parquet")
    current = store.current_marts()
    for table in registry.published_tables():
        if table in current:
            files["marts", table] = file_list(current[table])
    if fan_agency_path(store).exists():  # spans creators: publish builds it
        files["marts", "fan_agency"] = quote(fan_agency_path(store))
    return files


def read(files: str) -> str:
    return f"read_parquet({files}, union_by_name = true)"


def marts_schema(target: Path) -> str:
    """Where the tables go so that analysts always write `marts.<table>`.

    DuckDB names a file's catalog after the file: in the default `marts.duckdb` a schema `marts`
    would make `marts.x` ambiguous, so there the tables sit in `main` and `marts.x` resolves
    through the catalog; any other file name gets a schema `marts`.
    """
    return "main" if target.name.split(".")[0] == "marts" else "marts"


def build_analysts_file(
    store: Lake, target: Path, published_at: datetime, creator_id: str | None = None,
    agency: AgencyRollup | None = None,
) -> dict[str, int]:
    """Every current mart of every creator as tables under `marts`, plus `marts.system_stats`.

    After one creator's run only his rows change: the current file is copied and his rows of each
    mart replaced (O(creator) work, a file copy), unless a whole rebuild is due (no file yet, none
    for an hour, another target, or a mart whose columns changed). `agency`, the rollup this
    publish made, lets `marts.fan_agency` catch up by the people it rolled up again.
    """
    sources = layer_files(store)
    if creator_id and not full_rebuild_due(store, target, published_at):
        try:
            counts = refresh_creator(store, target, published_at, creator_id, sources,
                                     agency_catch_up(store, target, agency))
            record_agency_held(store, target)
            return counts
        except duckdb.Error:  # a mart's columns changed shape: rebuild the file whole
            pass
    counts = rebuild(store, target, published_at, sources)
    record_full_rebuild(store, target, published_at)
    record_agency_held(store, target)
    return counts


def rebuild(store: Lake, target: Path, published_at: datetime,
            sources: dict[tuple[str, str], str]) -> dict[str, int]:
    counts = lake_row_counts(store)  # every creator's files counted again
    schema_name = f"analysts.{marts_schema(target)}"

    def write(tmp: Path) -> None:
        with analysts_connection(tmp) as con:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema_name}")
            for (schema, table), files in sources.items():
                if schema == "marts":
                    con.execute(f"CREATE TABLE {schema_name}.{table} AS SELECT * FROM {read(files)}")
            write_system_stats(con, schema_name, counts, published_at)

    atomic_write(target, write)
    return counts


def refresh_creator(
    store: Lake, target: Path, published_at: datetime, creator_id: str,
    sources: dict[tuple[str, str], str], agency_changed: list[Path] | None = None,
) -> dict[str, int]:
    """The current file with the creator's rows of each mart replaced by his current ones, and
    `fan_agency`'s rows of the people of `agency_changed` (profiles) when given, else all."""
    counts = lake_row_counts(store, creator_id)  # his files counted again, the others' kept
    catalog_schema = marts_schema(target)
    schema_name = f"analysts.{catalog_schema}"
    current = store.read_manifest(creator_id)
    per_creator = set(store.current_marts())

    def write(tmp: Path) -> None:
        shutil.copyfile(target, tmp)
        with analysts_connection(tmp) as con:
            columns = table_columns(con, catalog_schema)
            for (schema, table), files in sources.items():
                if schema != "marts":
                    continue
                qualified = f"{schema_name}.{table}"
                if table in per_creator and "creator_id" in columns.get(table, ()):
                    if table in current:
                        con.execute(f"DELETE FROM {qualified} WHERE creator_id = ?", [creator_id])
                        con.execute(f"INSERT INTO {qualified} BY NAME SELECT * FROM "
                                    f"{read(file_list(mart_files(store.root / current[table])))}")
                elif table == "fan_agency" and agency_changed is not None and table in columns:
                    replace_people(con, qualified, read(files), agency_changed)
                else:  # new to the file, or spanning creators (fan_agency): whole
                    con.execute(f"CREATE OR REPLACE TABLE {qualified} AS SELECT * FROM {read(files)}")
            con.execute(f"DROP TABLE {schema_name}.system_stats")
            write_system_stats(con, schema_name, counts, published_at)

    atomic_write(target, write)
    return counts


@contextmanager
def analysts_connection(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB with the analysts' file being written attached as `analysts`."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"ATTACH {quote(path)} AS analysts")
        yield con
        con.execute("DETACH analysts")
    finally:
        con.close()


def table_columns(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, set[str]]:
    rows = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() "
        "WHERE database_name = 'analysts' AND schema_name = ?", [schema]
    ).fetchall()
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(table, set()).add(column)
    return columns


def write_system_stats(
    con: duckdb.DuckDBPyConnection, schema_name: str, counts: dict[str, int],
    published_at: datetime,
) -> None:
    """`system_stats` (rows of every lake table and mart: `lake_row_counts`) and the analysts'
    macros."""
    con.execute(
        f"CREATE TABLE {schema_name}.system_stats (layer VARCHAR, table_name VARCHAR, "
        "row_count BIGINT, refreshed_at TIMESTAMPTZ)"
    )
    con.executemany(
        f"INSERT INTO {schema_name}.system_stats VALUES (?, ?, ?, ?)",
        [(*key.split(".", 1), n, published_at) for key, n in counts.items()],
    )
    install_analyst_macros(con, schema_name)


def creator_files(store: Lake, creator_id: str) -> dict[str, list[Path]]:
    """`schema.table` → the creator's own files of each lake table and current mart that has
    any: his share of what `layer_files` lists for the agency."""
    files = {f"raw.{table}": store.raw_files(table, creator_id) for table in RAW_TABLES}
    for layer in ("staging", "intermediate"):
        for model in registry.models(layer=layer):
            path = store.staging_path(model.table, creator_id, layer=layer)
            files[f"{layer}.{model.table}"] = [path] if path.exists() else []
    manifest = store.read_manifest(creator_id)
    for table in registry.published_tables():
        if table in manifest:
            files[f"marts.{table}"] = mart_files(store.root / manifest[table])
    return {key: paths for key, paths in files.items() if paths}


# Listing a creator's files and reading their footers again, when one vanished in between.
COUNT_ATTEMPTS = 5


def creator_row_counts(con: duckdb.DuckDBPyConnection, store: Lake, creator_id: str
                       ) -> dict[str, int]:
    """Rows of each of the creator's lake tables and current marts, from the Parquet footers.
    His staging may be compacting raw meanwhile (outside the publish lock): a batch folded into
    its month between listing and reading is listed again. A file whose footer cannot be read
    (not Parquet: a stray or truncated file) is left out and named in a warning, so that it
    stops only its own creator's runs (his staging fails on it, naming it), not every publish."""
    unreadable: set[Path] = set()
    for attempt in range(COUNT_ATTEMPTS):
        files = {key: [path for path in paths if path not in unreadable]
                 for key, paths in creator_files(store, creator_id).items()}
        paths = [path for paths in files.values() for path in paths]
        if not paths:
            return {}
        try:
            rows = dict(con.execute(f"SELECT file_name, sum(num_rows) FROM parquet_file_metadata("
                                    f"{file_list(paths)}) GROUP BY file_name").fetchall())
        except duckdb.InvalidInputException:
            found = not_parquet(con, paths)
            if not found or attempt == COUNT_ATTEMPTS - 1:
                raise
            log.warning("system_stats leaves out %d file(s) of %s that are not Parquet: %s",
                        len(found), creator_id, ", ".join(map(str, found)))
            unreadable |= set(found)
            continue
        except duckdb.IOException:
            if attempt == COUNT_ATTEMPTS - 1 or all(path.exists() for path in paths):
                raise
            continue
        return {key: int(sum(rows.get(str(path), 0) for path in paths))
                for key, paths in files.items()}
    raise AssertionError("unreachable")


def not_parquet(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> list[Path]:
    """The files among `paths` whose Parquet footer cannot be read, one by one (only once
    reading them together failed)."""
    found = []
    for path in paths:
        try:
            parquet_rows(con, path)
        except duckdb.InvalidInputException:
            found.append(path)
        except duckdb.IOException:
            pass  # vanished meanwhile: listed again
    return found


def lake_creators(store: Lake) -> set[str]:
    """Every creator with a raw folder, a staged table or a current mart in the lake."""
    found = {p.name for table in RAW_TABLES for p in (store.root / "raw" / table).glob("*")
             if p.is_dir()}
    found |= {p.stem for layer in ("staging", "intermediate")
              for p in (store.root / layer).glob("*/*.parquet")}
    found |= {p.parent.name for p in (store.root / "marts").glob("*/manifest.json")}
    return {name for name in found if is_creator_id(name)}  # not a stray file's name


def row_counts_path(store: Lake) -> Path:
    """Each creator's rows per lake table as last counted (creator → `schema.table` → rows)."""
    return store.root / "published" / "row_counts.json"


def lake_row_counts(store: Lake, creator_id: str | None = None) -> dict[str, int]:
    """Rows of every lake table and current mart (`schema.table`), summed over creators, for
    `system_stats`. After one creator's run only his files are counted again; every other
    creator's rows are as counted at his last publish (or the last whole rebuild, which counts
    everyone's: `creator_id` None). So a publish costs what its creator holds, not the agency:
    at 200 creators the lake has tens of thousands of files. An unreadable record is counted
    again whole."""
    creators = lake_creators(store)
    recorded = (read_row_counts(store) if creator_id else None) or {}
    again = {c for c in creators if c not in recorded or creator_id in (None, c)}
    per_creator = {c: counts for c, counts in recorded.items() if c in creators}
    con = duckdb.connect()
    try:
        for creator in sorted(again):
            per_creator[creator] = creator_row_counts(con, store, creator)
        totals: dict[str, int] = {}
        for counts in per_creator.values():
            for key, rows in counts.items():
                totals[key] = totals.get(key, 0) + rows
        if fan_agency_path(store).exists():  # spans creators: publish builds it
            totals["marts.fan_agency"] = parquet_rows(con, fan_agency_path(store))
    finally:
        con.close()
    path = row_counts_path(store)
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(per_creator, sort_keys=True)))
    return dict(sorted(totals.items(), key=lambda item: item[0].split(".", 1)))


def read_row_counts(store: Lake) -> dict[str, dict[str, int]] | None:
    """The recorded counts; None when missing or not what `lake_row_counts` writes."""
    try:
        data = json.loads(row_counts_path(store).read_text())
    except (OSError, ValueError):
        return None
    valid = isinstance(data, dict) and all(
        isinstance(counts, dict) and all(
            isinstance(key, str) and isinstance(rows, int) and not isinstance(rows, bool)
            and rows >= 0 for key, rows in counts.items())
        for counts in data.values())
    return data if valid else None


def replace_people(con: duckdb.DuckDBPyConnection, qualified: str, source: str,
                   profiles: list[Path]) -> None:
    """The rows of the people of `profiles` replaced by theirs in `source` (a person without a
    row there any more loses his)."""
    if not profiles:
        return
    con.execute("CREATE OR REPLACE TEMP TABLE people AS SELECT DISTINCT fan_id "
                f"FROM read_parquet({file_list(profiles)}, union_by_name = true)")
    con.execute(f"DELETE FROM {qualified} WHERE fan_id IN (SELECT fan_id FROM people)")
    con.execute(f"INSERT INTO {qualified} BY NAME SELECT * FROM {source} "
                "WHERE fan_id IN (SELECT fan_id FROM people)")


def agency_held_path(store: Lake) -> Path:
    """Which rollup file each published file's `fan_agency` holds (file version → version)."""
    return store.root / "published" / "agency_held.json"


def record_agency_held(store: Lake, target: Path) -> None:
    """After `target` is written: it holds the current rollup."""
    record_for(agency_held_path(store), target, {
        "file": file_version(target), "agency": file_version(fan_agency_path(store))})


def record_for(path: Path, target: Path, value: object) -> None:
    """Set what a record of published files (file path → what it holds) says of `target`; an
    unreadable record starts again empty (whoever reads it then rebuilds whole)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = {}
    record = {**(record if isinstance(record, dict) else {}), str(target): value}
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(record)))


def agency_catch_up(store: Lake, target: Path, agency: AgencyRollup | None) -> list[Path] | None:
    """The profiles whose people `target`'s `fan_agency` must replace to hold the current
    rollup: those `agency` rolled up again, when `target` is the very file that held the rollup
    `agency` started from; None (replace it whole) otherwise."""
    if agency is None or agency.changed is None:
        return None
    try:
        held = json.loads(agency_held_path(store).read_text())[str(target)]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if held.get("file") != list(file_version(target) or ()):
        return None  # another file than the one recorded
    if held.get("agency") != list(agency.previous or ()):
        return None  # it holds another rollup than the one this one caught up from
    return agency.changed


# Deleted rows stay in a refreshed file until it is rebuilt whole, so it is rebuilt hourly.
FULL_REBUILD_EVERY = timedelta(hours=1)


def full_rebuild_path(store: Lake) -> Path:
    """When each published file was last rebuilt whole (file path → instant)."""
    return store.root / "published" / "full_rebuilds.json"


def full_rebuilds(store: Lake) -> dict[str, str]:
    path = full_rebuild_path(store)
    return json.loads(path.read_text()) if path.exists() else {}


def full_rebuild_due(store: Lake, target: Path, now: datetime) -> bool:
    last = full_rebuilds(store).get(str(target))
    return not target.exists() or last is None or now - parse_instant(last) >= FULL_REBUILD_EVERY


def record_full_rebuild(store: Lake, target: Path, at: datetime) -> None:
    record_for(full_rebuild_path(store), target, at.isoformat())


def catalog_views(store: Lake) -> dict[str, str]:
    """`schema.table` → the SELECT of its view in the warehouse catalog, for every lake table and
    current mart."""
    views = {}
    for (schema, table), files in layer_files(store).items():
        # A staging table is its base files with their merged changes applied.
        select = store.staged_select(table) if schema == "staging" else None
        views[f"{schema}.{table}"] = select or f"SELECT * FROM {read(files)}"
    return views


def catalog_held_path(store: Lake) -> Path:
    """Which views each catalog file holds (file path → its version and the views' SELECTs)."""
    return store.root / "published" / "catalog_views.json"


def catalog_held(store: Lake, target: Path) -> dict[str, str] | None:
    """The views `target` holds, when it is the very file recorded; None otherwise."""
    try:
        held = json.loads(catalog_held_path(store).read_text())[str(target)]
        if held["file"] == list(file_version(target) or ()) and isinstance(held["views"], dict):
            return held["views"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def build_warehouse_catalog(store: Lake, target: Path) -> list[str]:
    """The data engineers' warehouse: views raw.*, staging.*, intermediate.*, marts.* over the
    lake. Only a view whose SELECT changed is created again: after a creator's run the marts
    views, which list every creator's current files. The others read globs, which DuckDB expands
    at each query, and creating one reads every file's schema: at 200 creators, tens of thousands.
    Returns the views created."""
    views = catalog_views(store)
    held = catalog_held(store, target)
    created = [name for name, select in views.items() if (held or {}).get(name) != select]
    if held is not None and not created and held.keys() == views.keys():
        return []

    failed: dict[str, str] = {}

    def write(tmp: Path) -> None:
        if held is not None:
            shutil.copyfile(target, tmp)
        con = duckdb.connect(str(tmp))
        try:
            for schema in sorted({name.split(".", 1)[0] for name in views}):
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            for name in sorted((held or {}).keys() - views.keys()):
                con.execute(f"DROP VIEW IF EXISTS {name}")
            for name in created:
                try:
                    con.execute(f"CREATE OR REPLACE VIEW {name} AS {views[name]}")
                except duckdb.InvalidInputException as error:
                    # A file of one creator that is not Parquet (a stray or truncated file,
                    # named in the error): every other view is still created, and this one is
                    # tried again at the next publish.
                    failed[name] = str(error)
            con.execute("CHECKPOINT")
        finally:
            con.close()

    atomic_write(target, write)
    for name, error in failed.items():
        log.warning("warehouse catalog: view %s not created: %s", name, error)
    record_for(catalog_held_path(store), target, {
        "file": file_version(target),
        "views": {name: select for name, select in views.items() if name not in failed}})
    return [name for name in created if name not in failed]


def publish(
    store: Lake,
    creator_id: str | None = None,
    run_id: str | None = None,
    marts_postgres: MartsPostgresResource | None = None,
) -> dict[str, int]:
    """Commit a run's marts for its creator (if given), rebuild both published files, and
    publish to the Postgres marts when configured (OFHQ_MARTS_POSTGRES_URL)."""
    with publish_lock(store):
        if creator_id and run_id:
            store.commit_marts(creator_id, run_id, published=False)
        agency = write_fan_agency(store)
        published_at = datetime.now(UTC)
        counts = build_analysts_file(store, store.paths.analysts_marts, published_at, creator_id,
                                     agency)
        build_warehouse_catalog(store, store.paths.warehouse)
        if marts_postgres is not None and marts_postgres.enabled:
            marts_postgres.publish(
                store.current_marts(), creator_id, system_stats=counts, published_at=published_at
            )
        if creator_id and run_id:
            # Only now are they published: a publish that failed before leaves them behind
            # staging, so the creator's next run (a retry included) builds and publishes again
            # though nothing new was staged.
            store.run_marts_published(creator_id, run_id)
        if creator_id:
            store.prune_marts(creator_id)
    return counts
