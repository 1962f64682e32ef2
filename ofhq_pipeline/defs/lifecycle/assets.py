"""Lifecycle assets per creator: engagement signals, the relationship stage, the classifier's
per-fan view, and the append-only lifecycle log; all before marts/fan_profile, which joins them.

They sit in the groups `fan_aggregates` (the intermediate models) and `marts` (the log), so the
sync, real-time and stage-decay jobs pick them up by group, and `publish_marts`, which follows
fan_profile, publishes this run's log with the other marts.
"""

import dagster as dg
import duckdb

from ofhq_pipeline.defs.creators.partitions import creator_partitions
from ofhq_pipeline.defs.marts.assets import column_schema, mart_asset
from ofhq_pipeline.lifecycle.dictionary import describe, table_schema
from ofhq_pipeline.lifecycle.models import LOG_TABLE, build_intermediate, record_events
from ofhq_pipeline.resources.lake import LakeResource, quote
from ofhq_pipeline.resources.sync_settings import SyncSettings

FAN_PROFILE = dg.AssetKey(["marts", "fan_profile"])


def key(*parts: str) -> dg.AssetKey:
    return dg.AssetKey(list(parts))


def described_schema(path, table: str) -> dg.TableSchema:
    con = duckdb.connect()
    try:
        return describe(column_schema(con, path), table)
    finally:
        con.close()


def lifecycle_model(table: str, deps: list[dg.AssetKey], description: str) -> dg.AssetsDefinition:
    """An asset running sql/intermediate/<table>.sql in a lifecycle session."""

    @dg.asset(
        key=["intermediate", table],
        deps=deps,
        group_name="fan_aggregates",
        partitions_def=creator_partitions,
        kinds={"duckdb", "parquet"},
        description=description,
    )
    def _asset(
        context: dg.AssetExecutionContext, lake: LakeResource, sync: SyncSettings
    ) -> dg.MaterializeResult:
        store = lake.lake()
        as_of = sync.resolve_as_of(context)
        path, rows = build_intermediate(
            store, table, context.partition_key, as_of=as_of, run_id=context.run_id
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "dagster/column_schema": described_schema(path, table),
                "as_of": as_of.isoformat(),
                "path": str(path),
                **distribution(path, table),
            }
        )

    _asset.__name__ = f"intermediate_{table}"
    return _asset


def distribution(path, table: str) -> dict[str, dg.MetadataValue]:
    """Fans per stage and per temperature, shown with each materialization."""
    column = {"fan_stage": "stage", "fan_engagement": "temperature"}.get(table)
    if column is None:
        return {}
    con = duckdb.connect()
    try:
        counts = con.execute(
            f"SELECT {column}, count(*) FROM read_parquet({quote(path)}) GROUP BY 1 ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    return {f"{column}s": dg.MetadataValue.json(dict(counts))}


fan_personality = lifecycle_model(
    "fan_personality",
    # The classifier's mart when it is in the run (sync, real time); else its current one.
    [key("staging", "fans"), key("marts", "fan_personality")],
    "Per fan: the classifier's latest personality, intent scores (0-100) and objections "
    "(marts.fan_personality), with the columns and types fan_profile reads; empty until the "
    "classifier has run for the creator.",
)
fan_engagement = lifecycle_model(
    "fan_engagement",
    [
        key("staging", "fans"),
        key("staging", "chats"),
        key("staging", "messages"),
        key("marts", "transactions"),
        key("intermediate", "fan_money"),
    ],
    "One row per fan the creator knows of, with his engagement signals as of as-of: messages, "
    "active hours, reply time, last activity, temperature, spend tier, time-waster score.",
)
fan_stage = lifecycle_model(
    "fan_stage",
    [
        key("intermediate", "fan_engagement"),
        key("intermediate", "fan_money"),
        key("marts", "transactions"),
        key("staging", "fans"),
    ],
    "Per fan: the relationship stage as a pure function of history up to as-of, why, since when "
    "(as his history tells it), and when to follow up.",
)


@dg.asset(
    key=["marts", LOG_TABLE],
    deps=[key("intermediate", "fan_stage"), key("marts", "transactions"), key("staging", "fans")],
    group_name="marts",
    partitions_def=creator_partitions,
    kinds={"duckdb", "parquet"},
    metadata={"dagster/column_schema": table_schema(LOG_TABLE)},
    description="Every stage change and milestone (first purchase, spend tier reached, "
    "subscription anniversary) of the creator's fans, append-only in "
    "lake/lifecycle/fan_lifecycle_events/<creator>.parquet: re-evaluating the same as-of appends "
    "nothing. The run's copy is published with the marts.",
)
def fan_lifecycle_events(
    context: dg.AssetExecutionContext, lake: LakeResource, sync: SyncSettings
) -> dg.MaterializeResult:
    store = lake.lake()
    as_of = sync.resolve_as_of(context)
    recorded = record_events(store, context.partition_key, as_of=as_of, run_id=context.run_id)
    context.log.info(
        f"{recorded.stage_changes} stage changes and {recorded.milestones} milestones appended "
        f"as of {as_of.isoformat()}; {recorded.total} events in the log"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": recorded.total,
            "dagster/column_schema": described_schema(recorded.published_path, LOG_TABLE),
            "appended": recorded.appended,
            "stage_changes": recorded.stage_changes,
            "milestones": recorded.milestones,
            "as_of": as_of.isoformat(),
            "path": str(recorded.path),
        }
    )


lifecycle_assets = [fan_personality, fan_engagement, fan_stage, fan_lifecycle_events]

# What marts/fan_profile reads beyond the money marts: its deps once the lifecycle is wired in.
FAN_PROFILE_LIFECYCLE_DEPS = [
    key("intermediate", "fan_engagement"),
    key("intermediate", "fan_stage"),
    key("intermediate", "fan_personality"),
    key("marts", LOG_TABLE),
]


def with_lifecycle(assets: list[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """The mart assets with marts/fan_profile depending on the lifecycle models and carrying the
    data dictionary as its column schema (until mart_asset declares both itself)."""

    def complete(asset: dg.AssetsDefinition) -> dg.AssetsDefinition:
        if FAN_PROFILE not in asset.keys:
            return asset
        spec = asset.get_asset_spec(FAN_PROFILE)
        deps = [dep.asset_key for dep in spec.deps]
        deps += [dep for dep in FAN_PROFILE_LIFECYCLE_DEPS if dep not in deps]
        # A new asset from the same factory: map_asset_specs can add deps to the asset graph but
        # (dagster 1.13) not to the op's input mapping, so the step would not wait for them.
        rebuilt = mart_asset("fan_profile", deps, spec.description or "")
        return rebuilt.map_asset_specs(
            lambda s: s.merge_attributes(
                metadata={"dagster/column_schema": table_schema("fan_profile")}
            )
        )

    return [complete(asset) for asset in assets]
