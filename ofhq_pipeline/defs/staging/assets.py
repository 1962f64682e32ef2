"""Staging assets: one SQL model each (sql/staging/<table>.sql) over the creator's raw batches.

The pandera check is computed with the asset and is blocking: when a staged table breaks its
schema, the run stops before any mart is built from it and the failure cases are in the check's
metadata.

A raw row with a value that does not cast (an amount of "abc" or NaN, a fan id of 1e30) must
not stop the creator's staging on this run and every later one: `staging/cast_rejects` is built
first, lists every such value, and each other model reads its raw rows less those. Its check
warns (without blocking) while it holds any, with the reasons.
"""


import dagster as dg
import duckdb
import pandera.polars as pa
import polars as pl

from ofhq_pipeline.defs.creators.partitions import creator_partitions
from ofhq_pipeline.defs.staging import schemas
from ofhq_pipeline.defs.staging.rejects import summarize
from ofhq_pipeline.resources.lake import REJECTS, Lake, LakeResource

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


def staging_asset(
    table: str,
    schema: type[pa.DataFrameModel],
    deps: list[dg.AssetKey],
    description: str,
) -> dg.AssetsDefinition:
    """The one place a staged table is built. Every model but the rejects reads the rejects of
    the same run; the rejects carry the warning check besides the schema check."""
    key = dg.AssetKey(["staging", table])
    is_rejects = key == REJECTS_KEY
    checks = [dg.AssetCheckSpec("matches_schema", asset=key, blocking=True,
                                description=f"pandera: {schema.__name__}")]
    if is_rejects:
        checks.append(dg.AssetCheckSpec(
            REJECTS_CHECK, asset=key, blocking=False,
            description="Warns while raw rows are set aside because a value does not cast; "
            "the creator's other rows still build."))

    @dg.asset(
        key=key,
        deps=deps if is_rejects else [REJECTS_KEY, *deps],
        group_name="staging",
        partitions_def=creator_partitions,
        kinds={"duckdb", "parquet"},
        check_specs=checks,
        description=description,
    )
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource):
        store = lake.lake()
        creator_id = context.partition_key
        path = store.staging_path(table, creator_id)
        with store.session(creator_id) as con:
            rows = store.write_model(con, f"staging/{table}", path)
            warning = rejects_check(store, con, creator_id) if is_rejects else None
        passed, check_meta = validate(schema, pl.read_parquet(path))
        yield dg.MaterializeResult(metadata={"rows": rows, "path": str(path)})
        yield dg.AssetCheckResult(check_name="matches_schema", passed=passed, metadata=check_meta)
        if warning is not None:
            yield warning

    _asset.__name__ = f"staging_{table}"
    return _asset


def raw(table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", table])


staging_cast_rejects = staging_asset(
    REJECTS,
    schemas.StagedCastRejects,
    [raw("fans"), raw("transactions"), raw("chargebacks"), raw("chats"), raw("messages"),
     raw("vault_media"), raw("webhook_events")],
    "Raw rows staging sets aside, one row per value that does not cast (or is missing where "
    "required): raw table, batch and item, the item's id or webhook landing id, field, the "
    "offending text, why, and when it arrived. Every other staging model leaves these rows "
    "out, so one bad or hostile item never stops the creator's staging.",
)
staging_fans = staging_asset(
    "fans", schemas.StagedFans, [raw("fans"), raw("webhook_events")],
    "One row per fan: each field's latest value from the fans feed and the subscription "
    "webhooks, typed.",
)
staging_subscription_periods = staging_asset(
    "subscription_periods",
    schemas.StagedSubscriptionPeriods,
    [dg.AssetKey(["staging", "fans"]), raw("webhook_events")],
    "Every subscription period (subscribe, renew; free trials at price 0) of every fan.",
)
staging_transactions = staging_asset(
    "transactions",
    schemas.StagedTransactions,
    [raw("transactions"), raw("chargebacks"), raw("webhook_events")],
    "One row per transaction id from the feed, chargebacks and `transactions.new` webhooks: "
    "the most advanced status of all sightings (a status only moves forward; sightings that "
    "would move it back are counted in `status_regressions`), other fields from the latest "
    "sighting, integer cents, type derived, chargebacks applied with their time.",
)
staging_messages = staging_asset(
    "messages", schemas.StagedMessages, [raw("messages"), raw("chats"), raw("webhook_events")],
    "One row per chat message: the fan's or the creator's, price in cents, mass sends marked.",
)
staging_chats = staging_asset(
    "chats", schemas.StagedChats, [raw("chats")],
    "One row per chat: its fan, last message, unread count.",
)
staging_vault_media = staging_asset(
    "vault_media", schemas.StagedVaultMedia, [raw("vault_media")],
    "One row per vault item: type, duration, likes, tips.",
)

staging_assets = [
    staging_cast_rejects,
    staging_fans,
    staging_subscription_periods,
    staging_transactions,
    staging_messages,
    staging_chats,
    staging_vault_media,
]
