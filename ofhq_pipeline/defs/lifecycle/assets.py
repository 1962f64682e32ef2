"""Lifecycle assets per creator: engagement signals, the relationship stage and the classifier's
per-fan view (SQL models, sql/intermediate/), and the append-only lifecycle log, all before
marts/fan_profile, which joins them.
"""

import dagster as dg
import duckdb

from ofhq_pipeline.defs.models import (
    ModelOptions,
    Step,
    asset_attributes,
    model_asset,
    write_sql,
    written_metadata,
)
from ofhq_pipeline.lake import quote
from ofhq_pipeline.lifecycle.models import LOG_KEY, record_events
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.sync_settings import SyncSettings


def counted_by(column: str) -> ModelOptions:
    """The usual write, with the fans per `column` value shown with each materialization."""

    def write(step: Step, con: duckdb.DuckDBPyConnection, key: str) -> tuple[int, dict]:
        rows, _ = write_sql(step, con, key)
        counts = con.execute(
            f"SELECT {column}, count(*) FROM read_parquet({quote(step.path)}) "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
        return rows, {f"{column}s": dg.MetadataValue.json(dict(counts))}

    return ModelOptions(write=write)


@dg.asset(**asset_attributes(LOG_KEY))
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
            **written_metadata(LOG_KEY, recorded.published_path, recorded.total, as_of),
            "path": dg.MetadataValue.path(str(recorded.path)),
            "appended": recorded.appended,
            "stage_changes": recorded.stage_changes,
            "milestones": recorded.milestones,
        }
    )


lifecycle_assets = [
    model_asset("intermediate/fan_personality"),
    model_asset("intermediate/fan_engagement", counted_by("temperature")),
    model_asset("intermediate/fan_stage", counted_by("stage")),
    fan_lifecycle_events,
]
