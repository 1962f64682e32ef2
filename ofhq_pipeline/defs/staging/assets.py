"""Staging: one step merges the creator's new raw batches into every staged table
(sql/staging/<table>.sql; `ofhq_pipeline/staging/merge.py` says how), then compacts raw.

When nothing new arrived and the marts were built on what staging holds, the step yields nothing
and Dagster skips every step after it (unless the run is tagged `ofhq/rebuild_marts=true`, as the
daily stage decay is: there the instant changed, not the data).

The pandera check of each changed table is blocking: when a staged table breaks its schema, the
run stops before any mart is built from it and the failure cases are in the check's metadata.

A raw row with a value that does not cast (an amount of "abc" or NaN, a fan id of 1e30) must
not stop the creator's staging on this run and every later one: `staging/cast_rejects` is built
first, lists every such value, and each other model reads its raw rows less those. Its check
warns (without blocking) while it holds any, with the reasons.
"""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pandera.polars as pa
import polars as pl

from ofhq_pipeline import registry
from ofhq_pipeline.defs.models import asset_key, spec, written_metadata
from ofhq_pipeline.defs.partitions import creator_partitions
from ofhq_pipeline.lake import REJECTS, Lake, parquet_rows
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.sync_settings import SyncSettings
from ofhq_pipeline.staging import schemas, verdicts
from ofhq_pipeline.staging.compaction import compact, remove_leftovers
from ofhq_pipeline.staging.merge import Staged, StagingMerge
from ofhq_pipeline.staging.rejects import summarize

REJECTS_KEY = dg.AssetKey(["staging", REJECTS])
REJECTS_CHECK = "no_cast_rejects"


def validate(schema: type[pa.DataFrameModel], frame: pl.DataFrame) -> tuple[bool, dict]:
    """Validate lazily so every failure is reported, not just the first."""
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases.head(20)
        return False, {
            "failure_cases": dg.MetadataValue.text(str(cases)),
            "failures": errors.failure_cases.height,
        }
    return True, {"rows": frame.height}


def judged_columns(schema: type[pa.DataFrameModel], present: list[str]) -> list[str] | None:
    """Of the columns present, those the schema judges; None (all of them) when it is strict,
    since it judges that no other is there. A 10M-row table's descriptions are not read into
    memory to be ignored; a judged column that is missing is left for the schema to report."""
    judged = schema.to_schema()
    return None if judged.strict else [c for c in [*judged.columns, "_removed"] if c in present]


def written_rows(path: Path, schema: type[pa.DataFrameModel]) -> pl.DataFrame:
    """The rows of a staged file, of the columns the schema judges: a whole table, or the live
    rows of its changes."""
    frame = pl.read_parquet(path, columns=judged_columns(schema, list(pl.read_parquet_schema(path))))
    if "_removed" in frame.columns:
        frame = frame.filter(~pl.col("_removed")).drop("_replaced", "_removed", strict=False)
    return frame


def staged_rows(con: duckdb.DuckDBPyConnection, select: str,
                schema: type[pa.DataFrameModel]) -> pl.DataFrame:
    """The rows of a whole staged table (its base with its changes applied), of the columns the
    schema judges."""
    present = [row[0] for row in con.execute(f"DESCRIBE {select}").fetchall()]
    columns = judged_columns(schema, present)
    listed = ", ".join(columns) if columns else "*"  # our schemas' own column names
    return con.execute(f"SELECT {listed} FROM ({select})").pl()


def rejects_check(
    store: Lake, con: duckdb.DuckDBPyConnection, creator_id: str
) -> dg.AssetCheckResult:
    """A warning while the creator's raw rows hold values that do not cast: how many, the most
    common reasons and a sample (as JSON: the offending text is whatever was sent)."""
    found = summarize(con, [store.staging_path(REJECTS, creator_id)], sample=True)
    if not found:
        return dg.AssetCheckResult(
            asset_key=REJECTS_KEY, check_name=REJECTS_CHECK, passed=True, severity=dg.AssetCheckSeverity.WARN,
            metadata={"creator": creator_id, "rejected_values": 0, "rejected_rows": 0})
    (summary,) = found
    return dg.AssetCheckResult(
        asset_key=REJECTS_KEY,
        check_name=REJECTS_CHECK,
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{summary.rows} raw row(s) of {creator_id} set aside: "
        + "; ".join(label for label, _ in summary.reasons),
        metadata={
            "creator": creator_id,
            "rejected_values": summary.values,
            "rejected_rows": summary.rows,
            "reasons": dg.MetadataValue.json(dict(summary.reasons)),
            "sample": dg.MetadataValue.json(summary.sample),
        },
    )


# The pandera schema each staged table must meet.
SCHEMAS: dict[str, type[pa.DataFrameModel]] = {
    REJECTS: schemas.StagedCastRejects,
    "fans": schemas.StagedFans,
    "subscription_periods": schemas.StagedSubscriptionPeriods,
    "transactions": schemas.StagedTransactions,
    "messages": schemas.StagedMessages,
    "chats": schemas.StagedChats,
    "vault_media": schemas.StagedVaultMedia,
}


def check_specs(table: str) -> list[dg.AssetCheckSpec]:
    """A staged table's blocking schema check; the rejects also carry their warning."""
    key = dg.AssetKey(["staging", table])
    specs = [dg.AssetCheckSpec("matches_schema", asset=key, blocking=True,
                               description=f"pandera: {SCHEMAS[table].__name__}")]
    if table == REJECTS:
        specs.append(dg.AssetCheckSpec(
            REJECTS_CHECK, asset=key, blocking=False,
            description="Warns while raw rows are set aside because a value does not cast; "
            "the creator's other rows still build."))
    return specs


STAGING_KEYS = [model.key for model in registry.models(layer="staging")]


@dg.multi_asset(
    name="staging_tables",
    specs=[spec(key, skippable=True) for key in STAGING_KEYS],
    check_specs=[c for model in registry.models(layer="staging") for c in check_specs(model.table)],
    partitions_def=creator_partitions,
    can_subset=True,
    description="Stages the creator's raw batches not staged yet: each table merges them into "
    "what it holds (a run tagged `ofhq/full_history=true` rebuilds every table from raw), then "
    "small batches are compacted into their month.",
)
def staging_tables(
    context: dg.AssetExecutionContext, lake: LakeResource, sync: SyncSettings
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    store = lake.lake()
    creator_id = context.partition_key
    full = sync.full_history(context)
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    remove_leftovers(store, creator_id)  # so that no raw row is read twice
    with store.session(creator_id) as con:
        merge = StagingMerge(store, con, creator_id)
        # Every table is merged (one follows another; each merge costs what is new); the
        # selected ones are reported.
        built = [merge.build(model.table, full=full) for model in registry.models(layer="staging")]
        # What each merge wrote is judged now, reported or not, so that every table's verdicts
        # name the files it is made of and no later run has to judge it whole.
        judged = {staged.table: judge_written(store, creator_id, staged)
                  for staged in built if staged.written}
        changed = any(staged.changed for staged in built)
        behind = store.marts_behind(creator_id, staging_changed=changed)
        if full or behind or sync.rebuild_marts(context):
            for staged in built:
                if f"staging/{staged.table}" in selected:
                    yield from staged_results(store, con, creator_id, staged,
                                              judged.get(staged.table))
        else:
            # Nothing new, and the marts were built on what staging holds: nothing downstream
            # has work to do, so no staging output is yielded and Dagster skips it all.
            context.log.info("nothing new for %s: staging unchanged, downstream skipped",
                             creator_id)
    compacted = compact(store, creator_id, sync.raw_retention)
    if compacted:
        context.log.info("compacted raw batches into months: %s", compacted)


def staged_results(store: Lake, con: duckdb.DuckDBPyConnection, creator_id: str,
                   staged: Staged, judged: dict | None
                   ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    key = f"staging/{staged.table}"
    path = store.staging_path(staged.table, creator_id)
    yield dg.MaterializeResult(asset_key=asset_key(key), metadata={
        **written_metadata(key, path, staged.rows, con=con),
        "staging_mode": staged.mode, "new_batches": staged.new_batches,
        "recomputed_entities": staged.work_set, "last_seen_only": staged.last_seen_only,
        "seconds": staged.seconds,
    })
    passed, check_meta = schema_verdict(store, con, creator_id, staged, judged)
    yield dg.AssetCheckResult(asset_key=asset_key(key), check_name="matches_schema",
                              passed=passed, metadata=check_meta)
    if staged.table == REJECTS:
        yield rejects_check(store, con, creator_id)


def judge_written(store: Lake, creator_id: str, staged: Staged) -> dict:
    """Validate the file a merge wrote (the whole table, or its changes) and record the verdict;
    returns the check's metadata."""
    schema = SCHEMAS[staged.table]
    passed, meta = validate(schema, written_rows(staged.written, schema))
    whole = staged.written == store.staging_path(staged.table, creator_id)  # changes emptied
    verdicts.record(store, staged.table, creator_id, passed,
                    *(("base", "changes") if whole else ("changes",)))
    return meta


def schema_verdict(store: Lake, con: duckdb.DuckDBPyConnection, creator_id: str,
                   staged: Staged, judged: dict | None) -> tuple[bool, dict]:
    """The table's schema check: it passes only while every file it is made of passed when
    judged (`staging/verdicts.py`; `judged`: the metadata of what this run wrote). A table with a
    file no verdict names is judged whole."""
    table = staged.table
    changes = store.staging_changes_path(table, creator_id)
    has_changes = changes.exists() and parquet_rows(con, changes) > 0
    held = verdicts.standing(store, table, creator_id, has_changes=has_changes)
    if held is not None:
        if judged is None:
            return held, {"rows": staged.rows, "validated": "unchanged since judged"}
        if held or "failure_cases" in judged:
            return held, judged
        return held, {**judged, "validated": "the new changes pass; the base they apply to failed"}
    passed, meta = validate(SCHEMAS[table], staged_rows(con, store.staged_select(table, creator_id),
                                                        SCHEMAS[table]))
    verdicts.record(store, table, creator_id, passed, "base", "changes")
    return passed, {**meta, "validated": "judged whole: no verdict named its files"}


staging_assets = [staging_tables]
