"""The one way a table of the registry becomes a Dagster asset.

`asset_attributes(key)` gives every asset what the registry and the dictionary say of it: key,
inputs, group (the key's layer), owners, domain tag, creator partitions, description and column
schema. `model_asset(key)` is the whole step of a SQL model: run `sql/<key>.sql` in the creator's
session into its file, then report rows, schema, as-of and path (and run its checks). Python
steps that write tables (the classifier, the vault tagger, lifetime value, chatters, publishing)
declare their assets with `asset_attributes` / `spec` and their own bodies.
"""


from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb

from ofhq_pipeline import registry
from ofhq_pipeline.defs.partitions import creator_partitions
from ofhq_pipeline.dictionary import TABLES, describe, table_schema
from ofhq_pipeline.lake import Lake, quote
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.sync_settings import SyncSettings

DOMAIN_TAG = "ofhq/domain"
KINDS = {"raw": {"parquet"}, "published": {"duckdb"}, "report": {"html"}}


def domains(*names: str) -> dg.AssetSelection:
    """The assets of the given domains (the registry's `domain`, tagged on every asset)."""
    selection = dg.AssetSelection.tag(DOMAIN_TAG, names[0])
    for name in names[1:]:
        selection = selection | dg.AssetSelection.tag(DOMAIN_TAG, name)
    return selection


def asset_key(key: str) -> dg.AssetKey:
    return dg.AssetKey(key.split("/"))


def asset_attributes(key: str, *, inputs: tuple[str, ...] | None = None,
                     description: str | None = None) -> dict:
    """What every asset of table `key` declares, from the registry and the dictionary. A step
    that fetches or sends says what it does in its own `description`."""
    segment = key.startswith("segments/")
    model = registry.segment_model(key.split("/", 1)[1]) if segment else registry.model(key)
    attributes = {
        "key": asset_key(key),
        "deps": [asset_key(k) for k in (model.inputs if inputs is None else inputs)],
        "group_name": model.layer,
        "owners": [model.owner],
        "tags": {DOMAIN_TAG: model.domain},
        "kinds": KINDS.get(model.layer, {"duckdb", "parquet"}),
    }
    if model.per_creator:
        attributes["partitions_def"] = creator_partitions
    # A segment's members have the columns of marts.segment_members, which unions them.
    table = "marts/segment_members" if segment else key
    if table in TABLES:
        attributes["metadata"] = {"dagster/column_schema": table_schema(table)}
    if description or key in TABLES:
        attributes["description"] = description or TABLES[key].description
    return attributes


def spec(key: str, **overrides) -> dg.AssetSpec:
    """The AssetSpec of table `key`, for a step that writes several tables (a multi-asset)."""
    attributes = asset_attributes(key)
    attributes.pop("partitions_def", None)  # the multi-asset carries the partitions
    return dg.AssetSpec(**{**attributes, **overrides})


def file_schema(con: duckdb.DuckDBPyConnection, path: Path) -> dg.TableSchema:
    rows = con.execute(f"DESCRIBE SELECT * FROM read_parquet({quote(path)})").fetchall()
    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype)) for name, dtype, *_ in rows])


def written_metadata(key: str, path: Path, rows: int, as_of: datetime | None = None, *,
                     con: duckdb.DuckDBPyConnection | None = None) -> dict:
    """The standard metadata of a written table: row count, described schema, as-of and path
    (read with the step's session when it has one open)."""
    if con is None:
        with duckdb.connect() as own:
            return written_metadata(key, path, rows, as_of, con=own)
    schema = file_schema(con, path)
    metadata = {
        "dagster/row_count": rows,
        "dagster/column_schema": describe(schema, key) if key in TABLES else schema,
        "path": dg.MetadataValue.path(str(path)),
    }
    if as_of is not None:
        metadata["as_of"] = dg.MetadataValue.timestamp(as_of)
    lineage = column_lineage(key)
    if lineage is not None:
        metadata["dagster/column_lineage"] = lineage
    return metadata


# Tables whose column lineage the UI shows: each column traced to the inputs that carry it.
LINEAGE = ("marts/fan_profile",)


def column_lineage(key: str) -> dg.TableColumnLineage | None:
    """Each column of `key` (keys and as_of aside) from the inputs whose dictionary has a column
    of that name: fan_profile takes its fields from the intermediate tables under their names."""
    if key not in LINEAGE:
        return None
    table = TABLES[key]
    inputs = [k for k in registry.model(key).inputs if k in TABLES]
    deps = {}
    for column in table.columns:
        if column.name in (*table.unique_key, "as_of"):
            continue
        sources = [dg.TableColumnDep(asset_key=asset_key(k), column_name=column.name)
                   for k in inputs if any(c.name == column.name for c in TABLES[k].columns)]
        if sources:
            deps[column.name] = sources
    return dg.TableColumnLineage(deps_by_column=deps)


@dataclass(frozen=True)
class Step:
    """What one materialization of a model has at hand."""

    context: dg.AssetExecutionContext
    store: Lake
    creator_id: str
    as_of: datetime | None
    path: Path


# How a model's file is written, in its session: (step, session) → (rows, extra metadata).
Writer = Callable[[Step, duckdb.DuckDBPyConnection, str], tuple[int, dict]]
# Sets up what a model reads beyond the session (a log, variables): (step, session).
Prepare = Callable[[Step, duckdb.DuckDBPyConnection], None]
# Yields a model's check results once it is written: (step, session).
Checks = Callable[[Step, duckdb.DuckDBPyConnection], Iterator[dg.AssetCheckResult]]


def write_sql(step: Step, con: duckdb.DuckDBPyConnection, key: str) -> tuple[int, dict]:
    """The usual way: the model's SELECT run into its file."""
    return step.store.write_model(con, key, step.path), {}


@dataclass(frozen=True)
class ModelOptions:
    write: Writer = write_sql
    prepare: Prepare | None = None
    checks: Checks | None = None
    check_specs: list[dg.AssetCheckSpec] = field(default_factory=list)
    # staging is as-of free: it holds every sighting; later layers are computed as of the run
    as_of: bool = True


def model_asset(key: str, options: ModelOptions = ModelOptions()) -> dg.AssetsDefinition:
    """The asset of a SQL model: `sql/<key>.sql` run in the creator's session into its file."""
    model = registry.model(key)
    if not model.is_sql:
        raise ValueError(f"{key} is written by {model.built_by}, not by its SQL")

    @dg.asset(**asset_attributes(key), check_specs=options.check_specs)
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource, sync: SyncSettings):
        store = lake.lake()
        creator_id = context.partition_key
        as_of = sync.resolve_as_of(context) if options.as_of else None
        step = Step(context, store, creator_id, as_of,
                    store.model_path(key, creator_id, context.run_id))
        run_id = context.run_id if options.as_of else None
        with store.session(creator_id, as_of=as_of, run_id=run_id) as con:
            if options.prepare is not None:
                options.prepare(step, con)
            rows, extra = options.write(step, con, key)
            yield dg.MaterializeResult(
                metadata={**written_metadata(key, step.path, rows, as_of, con=con), **extra}
            )
            if options.checks is not None:
                yield from options.checks(step, con)

    _asset.__name__ = key.replace("/", "_")
    return _asset
