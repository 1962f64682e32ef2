"""Staging assets: one SQL model each (sql/staging/<table>.sql) over the creator's raw batches.

The pandera check is computed with the asset and is blocking: when a staged table breaks its
schema, the run stops before any mart is built from it and the failure cases are in the check's
metadata.

A raw row with a value that does not cast (an amount of "abc" or NaN, a fan id of 1e30) must
not stop the creator's staging on this run and every later one: `staging/cast_rejects` is built
first, lists every such value, and each other model reads its raw rows less those. Its check
warns (without blocking) while it holds any, with the reasons.
"""

from collections.abc import Iterator

import dagster as dg
import duckdb
import pandera.polars as pa
import polars as pl

from ofhq_pipeline import registry
from ofhq_pipeline.defs.models import ModelOptions, Step, model_asset
from ofhq_pipeline.lake import REJECTS, Lake
from ofhq_pipeline.staging import schemas
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


def rejects_check(
    store: Lake, con: duckdb.DuckDBPyConnection, creator_id: str
) -> dg.AssetCheckResult:
    """A warning while the creator's raw rows hold values that do not cast: how many, the most
    common reasons and a sample (as JSON: the offending text is whatever was sent)."""
    found = summarize(con, [store.staging_path(REJECTS, creator_id)], sample=True)
    if not found:
        return dg.AssetCheckResult(
            check_name=REJECTS_CHECK, passed=True, severity=dg.AssetCheckSeverity.WARN,
            metadata={"creator": creator_id, "rejected_values": 0, "rejected_rows": 0})
    (summary,) = found
    return dg.AssetCheckResult(
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


def staging_asset(table: str) -> dg.AssetsDefinition:
    """A staged table with its blocking schema check; the rejects also carry their warning."""
    key = dg.AssetKey(["staging", table])
    schema = SCHEMAS[table]
    check_specs = [dg.AssetCheckSpec("matches_schema", asset=key, blocking=True,
                                     description=f"pandera: {schema.__name__}")]
    if table == REJECTS:
        check_specs.append(dg.AssetCheckSpec(
            REJECTS_CHECK, asset=key, blocking=False,
            description="Warns while raw rows are set aside because a value does not cast; "
            "the creator's other rows still build."))

    def checks(step: Step, con: duckdb.DuckDBPyConnection) -> Iterator[dg.AssetCheckResult]:
        passed, check_meta = validate(schema, pl.read_parquet(step.path))
        yield dg.AssetCheckResult(check_name="matches_schema", passed=passed, metadata=check_meta)
        if table == REJECTS:
            yield rejects_check(step.store, con, step.creator_id)

    return model_asset(f"staging/{table}", ModelOptions(checks=checks, check_specs=check_specs,
                                                        as_of=False))


staging_assets = [staging_asset(model.table) for model in registry.models(layer="staging")]
