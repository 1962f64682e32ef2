"""Staging assets: one SQL model each (sql/staging/<table>.sql) over the creator's raw batches.

The pandera check is computed with the asset and is blocking: when a staged table breaks its
schema, the run stops before any mart is built from it and the failure cases are in the check's
metadata.
"""


import dagster as dg
import pandera.polars as pa
import polars as pl

from ofhq_pipeline.defs.creators.partitions import creator_partitions
from ofhq_pipeline.defs.staging import schemas
from ofhq_pipeline.resources.lake import LakeResource


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


def staging_asset(
    table: str,
    schema: type[pa.DataFrameModel],
    deps: list[dg.AssetKey],
    description: str,
) -> dg.AssetsDefinition:
    key = dg.AssetKey(["staging", table])
    check = dg.AssetCheckSpec("matches_schema", asset=key, blocking=True,
                              description=f"pandera: {schema.__name__}")

    @dg.asset(
        key=key,
        deps=deps,
        group_name="staging",
        partitions_def=creator_partitions,
        kinds={"duckdb", "parquet"},
        check_specs=[check],
        description=description,
    )
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource):
        store = lake.lake()
        creator_id = context.partition_key
        path = store.staging_path(table, creator_id)
        with store.session(creator_id) as con:
            rows = store.write_model(con, f"staging/{table}", path)
        passed, check_meta = validate(schema, pl.read_parquet(path))
        yield dg.MaterializeResult(metadata={"rows": rows, "path": str(path)})
        yield dg.AssetCheckResult(check_name="matches_schema", passed=passed, metadata=check_meta)

    _asset.__name__ = f"staging_{table}"
    return _asset


def raw(table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", table])


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
    "latest sighting wins, integer cents, type and status derived, chargebacks applied with "
    "their time.",
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
    staging_fans,
    staging_subscription_periods,
    staging_transactions,
    staging_messages,
    staging_chats,
    staging_vault_media,
]
