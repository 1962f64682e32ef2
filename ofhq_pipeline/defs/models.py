"""The one way tables of the registry become Dagster assets.

`asset_attributes(key)` gives every asset what the registry and the dictionary say of it: key,
inputs, group (the key's layer), owners, domain tag, creator partitions, description and column
schema. `layer_step(name, options)` is one step that builds several models, each still its own
asset: it opens the creator's session once and, for every selected model in build order, runs
`sql/<key>.sql` (or the model's own writer) into its file, reports rows, schema, as-of, path and
seconds, and runs its checks. A step costs Dagster bookkeeping whatever it does, so the models
between two Python steps share one (defs/marts/layers.py groups them). Python steps that call
out (the classifier, the vault tagger, chatters, publishing) declare their assets with
`asset_attributes` / `spec` and their own bodies.
"""

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb
import pydantic

from ofhq_pipeline import registry
from ofhq_pipeline.defs.freshness import freshness_attributes
from ofhq_pipeline.defs.partitions import creator_partitions
from ofhq_pipeline.dictionary import TABLES, describe, table_schema
from ofhq_pipeline.lake import Lake, mart_select, quote
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.sync_settings import SyncSettings

DOMAIN_TAG = "ofhq/domain"
KINDS = {"raw": {"parquet"}, "published": {"duckdb"}, "report": {"html"},
         "blasts": {"duckdb", "sqlalchemy"}}


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
    attributes.update(freshness_attributes(model))
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
    as_of: datetime
    path: Path
    config: dg.Config | None = None  # the model's section of its step's run config


# How a model's file is written, in its session: (step, session, key) → (rows, extra metadata).
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
    """How a layer step builds one model, when not just by its SQL. A Python-built model folded
    into a layer step brings its own `write`; `config` is the model's run config, a section of
    its step's config named by its table."""

    write: Writer = write_sql
    prepare: Prepare | None = None
    checks: Checks | None = None
    check_specs: list[dg.AssetCheckSpec] = field(default_factory=list)
    config: type[dg.Config] | None = None


def step_config(name: str, sections: Mapping[str, type[dg.Config]]) -> type[dg.Config]:
    """The run config of a layer step: one section per model that takes config, by its table,
    each with its own defaults (a step without any takes none)."""
    fields = {table: (config, pydantic.Field(default_factory=config))
              for table, config in sections.items()}
    return pydantic.create_model(f"{name}_config", __base__=dg.Config, **fields)


def refresh_view(con: duckdb.DuckDBPyConnection, model: registry.Model, path: Path) -> None:
    """Point the session's view of `model` at the file just written, as a new session would
    see it: the session was opened before, and the step's later models read it."""
    con.execute(f"CREATE OR REPLACE VIEW {model.layer}.{model.table} AS "
                f"{mart_select(model, path)}")


def for_asset(result: dg.AssetCheckResult, key: dg.AssetKey) -> dg.AssetCheckResult:
    """A check result naming its asset: in a step of several assets a check name alone (e.g.
    `unique_key`) is ambiguous."""
    return result if result.asset_key is not None else result._replace(asset_key=key)


def build_model(
    step: Step, con: duckdb.DuckDBPyConnection, model: registry.Model, options: ModelOptions,
    *, run_checks: bool,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """One model of a layer step: prepared, written, its view refreshed, checked; reported with
    the seconds that took (checks included), so a run's time splits into work and bookkeeping."""
    key = asset_key(model.key)
    started = time.perf_counter()
    if options.prepare is not None:
        options.prepare(step, con)
    rows, extra = options.write(step, con, model.key)
    refresh_view(con, model, step.path)
    checks = []
    if run_checks and options.checks is not None:
        checks = [for_asset(result, key) for result in options.checks(step, con)]
    seconds = round(time.perf_counter() - started, 3)
    yield dg.MaterializeResult(asset_key=key, metadata={
        **written_metadata(model.key, step.path, rows, step.as_of, con=con), **extra,
        "seconds": seconds,
    })
    yield from checks


def layer_step(name: str, options: Mapping[str, ModelOptions], *,
               description: str) -> dg.AssetsDefinition:
    """One step building the models of `options` (keys of the registry), each its own asset
    with its own checks, in one session of the creator's, as of the run and reading the run's
    marts. Subsettable: a run builds only the models it selects (the real-time job, a test of
    one mart), still in build order, and only the checks it selects."""
    models = registry.in_build_order(options)
    for model in models:
        if not model.is_sql and options[model.key].write is write_sql:
            raise ValueError(f"{model.key} is written by {model.built_by}: its options need a "
                             "`write`")
    config_class = step_config(
        name, {m.table: options[m.key].config for m in models if options[m.key].config})

    @dg.multi_asset(
        name=name,
        description=description,
        specs=[spec(model.key) for model in models],
        check_specs=[c for model in models for c in options[model.key].check_specs],
        can_subset=True,
        partitions_def=creator_partitions,
    )
    def _step(
        context: dg.AssetExecutionContext,
        config: config_class,
        lake: LakeResource,
        sync: SyncSettings,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        store = lake.lake()
        creator_id = context.partition_key
        as_of = sync.resolve_as_of(context)
        selected = [m for m in models if asset_key(m.key) in context.selected_asset_keys]
        with store.session(creator_id, as_of=as_of, run_id=context.run_id) as con:
            for model in selected:
                model_options = options[model.key]
                checks = {c.key for c in model_options.check_specs}
                checks &= context.selected_asset_check_keys
                step = Step(context, store, creator_id, as_of,
                            store.model_path(model.key, creator_id, context.run_id),
                            getattr(config, model.table, None))
                for result in build_model(step, con, model, model_options,
                                          run_checks=bool(checks)):
                    if isinstance(result, dg.MaterializeResult) or dg.AssetCheckKey(
                            result.asset_key, result.check_name) in checks:
                        yield result

    return _step
