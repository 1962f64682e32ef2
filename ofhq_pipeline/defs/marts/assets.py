"""Mart assets per creator: one SQL model each (sql/marts/<table>.sql, sql/intermediate/...).

A run writes its marts into a folder of its own; `publish` makes them current together, so
neither analysts nor the next run ever see some of a run's marts without the others.
"""


import dagster as dg
import duckdb

from ofhq_pipeline.defs.creators.partitions import creator_partitions
from ofhq_pipeline.lifecycle.dictionary import TABLES, describe, table_schema
from ofhq_pipeline.resources.lake import (
    Lake,
    LakeResource,
    atomic_write,
    link_or_copy,
    parquet_rows,
    quote,
)
from ofhq_pipeline.resources.sync_settings import SyncSettings


def column_schema(con: duckdb.DuckDBPyConnection, path) -> dg.TableSchema:
    rows = con.execute(f"DESCRIBE SELECT * FROM read_parquet({quote(path)})").fetchall()
    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype)) for name, dtype, *_ in rows])


def mart_asset(
    table: str, deps: list[dg.AssetKey], description: str, *, layer: str = "marts"
) -> dg.AssetsDefinition:
    @dg.asset(
        key=[layer, table],
        deps=deps,
        group_name="marts" if layer == "marts" else "fan_aggregates",
        partitions_def=creator_partitions,
        kinds={"duckdb", "parquet"},
        description=description,
        metadata={"dagster/column_schema": table_schema(table)} if table in TABLES else None,
    )
    def _asset(
        context: dg.AssetExecutionContext, lake: LakeResource, sync: SyncSettings
    ) -> dg.MaterializeResult:
        store = lake.lake()
        creator_id = context.partition_key
        as_of = sync.resolve_as_of(context)
        path = output_path(store, layer, table, creator_id, context.run_id)
        with store.session(creator_id, as_of=as_of, run_id=context.run_id) as con:
            rows = store.write_model(con, f"{layer}/{table}", path)
            schema = describe(column_schema(con, path), table)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "dagster/column_schema": schema,
                "as_of": as_of.isoformat(),
                "path": str(path),
            }
        )

    _asset.__name__ = f"{layer}_{table}"
    return _asset


def output_path(store: Lake, layer: str, table: str, creator_id: str, run_id: str):
    if layer == "marts":
        return store.mart_path(table, creator_id, run_id)
    return store.staging_path(table, creator_id, layer=layer)


def key(*parts: str) -> dg.AssetKey:
    return dg.AssetKey(list(parts))


@dg.asset(
    key=["marts", "transactions"],
    deps=[key("staging", "transactions")],
    group_name="marts",
    partitions_def=creator_partitions,
    kinds={"duckdb", "parquet"},
    description="The money truth: every transaction created at or before as-of, with its status "
    "as of then and whether it is a purchase (succeeded, amount > 0).",
)
def marts_transactions(
    context: dg.AssetExecutionContext, lake: LakeResource, sync: SyncSettings
) -> dg.MaterializeResult:
    store = lake.lake()
    creator_id = context.partition_key
    as_of = sync.resolve_as_of(context)
    staged = store.staging_path("transactions", creator_id)
    path = store.mart_path("transactions", creator_id, context.run_id)
    with store.session(creator_id, as_of=as_of, run_id=context.run_id) as con:
        if staged.exists() and staged_before(con, staged):
            # Nothing staged lies after as-of, so the mart is the staged file as it is: a
            # hard link instead of rewriting ten million rows.
            atomic_write(path, lambda tmp: link_or_copy(staged, tmp))
            rows, linked = parquet_rows(con, path), True
        else:
            rows, linked = store.write_model(con, "marts/transactions", path), False
        schema = column_schema(con, path)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "dagster/column_schema": schema,
            "as_of": as_of.isoformat(),
            "path": str(path),
            "linked_to_staging": linked,
        }
    )


def staged_before(con: duckdb.DuckDBPyConnection, staged) -> bool:
    """Whether every staged transaction and chargeback happened at or before as_of()."""
    (before,) = con.execute(
        f"SELECT coalesce(max(greatest(created_at, chargeback_at)) <= as_of(), true) "
        f"FROM read_parquet({quote(staged)})"
    ).fetchone()
    return before
fan_money = mart_asset(
    "fan_money",
    [
        key("marts", "transactions"),
        key("staging", "messages"),
        key("staging", "subscription_periods"),
    ],
    "Per fan: every money & purchases field of the fan profile (spend, purchases, spend by type, "
    "price range, buyer type, PPV conversion, discount sensitivity, refunds and chargebacks).",
    layer="intermediate",
)
fan_profile = mart_asset(
    "fan_profile",
    [
        key("intermediate", "fan_money"),
        key("staging", "fans"),
        key("staging", "chats"),
        key("intermediate", "fan_engagement"),
        key("intermediate", "fan_stage"),
        key("intermediate", "fan_personality"),
        key("marts", "fan_lifecycle_events"),
    ],
    "One row per fan: every field of the fan profile (money, subscription, engagement, stage, "
    "next best action, personality and intent), computed as of the run's as-of instant.",
)
creator_revenue_daily = mart_asset(
    "creator_revenue_daily",
    [key("marts", "transactions")],
    "Per creator and UTC day: gross and net purchases, paying fans, spend by type, refunds and "
    "chargebacks.",
)
creators = mart_asset(
    "creators",
    [key("raw", "accounts"), key("marts", "fan_profile")],
    "One row per creator: account, fans, active subscribers, paying fans, whales, revenue.",
)

creator_revenue_live = mart_asset(
    "creator_revenue_live",
    [key("marts", "creator_revenue_daily")],
    "Today's revenue of the creator (UTC day of as-of): refreshed by every real-time run.",
)

mart_assets = [
    marts_transactions,
    fan_money,
    fan_profile,
    creator_revenue_daily,
    creator_revenue_live,
    creators,
]
