"""Publishing: one step per creator run that commits the run's marts, rebuilds the analysts'
file and the warehouse catalog, rolls up `marts.fan_agency`, and loads the Postgres marts when
configured (ofhq_pipeline/warehouse/publish.py does the work)."""

import time

import dagster as dg

from ofhq_pipeline.defs.deployment import DUCKDB_WRITER_POOL
from ofhq_pipeline.defs.models import asset_key, spec
from ofhq_pipeline.defs.partitions import creator_partitions
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.marts_postgres import MartsPostgresResource
from ofhq_pipeline.warehouse.publish import publish


@dg.multi_asset(
    specs=[
        spec("marts/system_stats"),
        spec("marts/fan_agency"),
        spec("published/analysts_marts"),
    ],
    partitions_def=creator_partitions,
    name="publish_marts",
    pool=DUCKDB_WRITER_POOL,
)
def publish_marts(
    context: dg.AssetExecutionContext, lake: LakeResource, marts_postgres: MartsPostgresResource
):
    started = time.perf_counter()
    store = lake.lake()
    counts = publish(store, context.partition_key, context.run_id, marts_postgres)
    yield dg.MaterializeResult(
        asset_key=asset_key("marts/system_stats"),
        metadata={"dagster/row_count": len(counts), "tables": len(counts),
                  "counts": dg.MetadataValue.json(counts),
                  "seconds": round(time.perf_counter() - started, 3)},  # the step's
    )
    yield dg.MaterializeResult(
        asset_key=asset_key("marts/fan_agency"),
        metadata={"dagster/row_count": counts.get("marts.fan_agency", 0)},
    )
    yield dg.MaterializeResult(
        asset_key=asset_key("published/analysts_marts"),
        metadata={
            "path": dg.MetadataValue.path(str(store.paths.analysts_marts)),
            "fan_profile_rows": counts.get("marts.fan_profile", 0),
            "transactions_rows": counts.get("marts.transactions", 0),
        },
    )
