"""Mart assets per creator: one SQL model each (sql/marts/<table>.sql, sql/intermediate/...).

A run writes its marts into a folder of its own; `publish` makes them current together, so
neither analysts nor the next run ever see some of a run's marts without the others.
"""


from collections.abc import Callable
from pathlib import Path

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


# How a mart's file is written: (store, session, creator, model, path) → (rows, extra metadata).
MartWriter = Callable[[Lake, duckdb.DuckDBPyConnection, str, str, Path], tuple[int, dict]]


def write_sql_model(
    store: Lake, con: duckdb.DuckDBPyConnection, creator_id: str, model: str, path: Path
) -> tuple[int, dict]:
    """The usual way a model is built: its SELECT run into the file (rows, extra metadata)."""
    return store.write_model(con, model, path), {}


def mart_asset(
    table: str,
    deps: list[dg.AssetKey],
    description: str,
    *,
    layer: str = "marts",
    write: MartWriter = write_sql_model,
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
            rows, extra = write(store, con, creator_id, f"{layer}/{table}", path)
            schema = describe(column_schema(con, path), table)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "dagster/column_schema": schema,
                "as_of": as_of.isoformat(),
                "path": str(path),
                **extra,
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


def link_or_write_transactions(
    store: Lake, con: duckdb.DuckDBPyConnection, creator_id: str, model: str, path: Path
) -> tuple[int, dict]:
    """When nothing staged lies after as_of(), the mart is the staged file as it is: a hard link
    instead of rewriting every transaction. Otherwise the model filters it to as_of()."""
    staged = store.staging_path("transactions", creator_id)
    if staged.exists() and staged_before(con, staged):
        atomic_write(path, lambda tmp: link_or_copy(staged, tmp))
        return parquet_rows(con, path), {"linked_to_staging": True}
    return store.write_model(con, model, path), {"linked_to_staging": False}


def staged_before(con: duckdb.DuckDBPyConnection, staged: Path) -> bool:
    """Whether every staged transaction and chargeback happened at or before as_of()."""
    (before,) = con.execute(
        f"SELECT coalesce(max(greatest(created_at, chargeback_at)) <= as_of(), true) "
        f"FROM read_parquet({quote(staged)})"
    ).fetchone()
    return before


marts_transactions = mart_asset(
    "transactions",
    [key("staging", "transactions")],
    "The money truth: every transaction created at or before as-of, with its status as of then "
    "and whether it is a purchase (succeeded, amount > 0).",
    write=link_or_write_transactions,
)
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
