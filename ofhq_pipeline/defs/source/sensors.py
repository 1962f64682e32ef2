"""The second run of a sync: a creator_sync run that staged anything gets its creator_marts run.

Under the daemon, `creator_marts_sensor` watches the successful creator_sync runs the daemon or
the UI launched; `ofhq sync` runs both in process and decides the same way (ofhq_pipeline/sync.py),
with the same tags (a run executed in process has no code location origin, so the daemon's
sensor does not see it: no marts run twice). A tick goes through the syncs that staged nothing
and stops at the first that did, with its request (Dagster's run status sensors: one request a
tick), hence the short interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import dagster as dg

from ofhq_pipeline.defs.partitions import CREATOR_NAME_TAG
from ofhq_pipeline.defs.source.jobs import SYNC_RUN_TAG, creator_marts_job, creator_sync_job
from ofhq_pipeline.defs.source.schedules import PARTITION_TAG, ROTATION_TAG
from ofhq_pipeline.resources.sync_settings import AS_OF_TAG, FULL_HISTORY_TAG

# What the marts run takes from its sync run: the instant pinned (else the marts run resolves
# its own start, after every row the sync fetched), the full-history flag, and what the UI shows.
CARRIED_TAGS = (AS_OF_TAG, FULL_HISTORY_TAG, CREATOR_NAME_TAG, ROTATION_TAG)


def is_staging(key: dg.AssetKey) -> bool:
    return key.path[0] == "staging"


def staged_anything(keys: Iterable[dg.AssetKey]) -> bool:
    return any(is_staging(key) for key in keys)


def run_staged_anything(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether the run materialized any staging asset (one query over its materializations)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    return staged_anything(record.asset_materialization.asset_key for record in records
                           if record.asset_materialization is not None)


def full_history(tags: Mapping[str, str]) -> bool:
    return tags.get(FULL_HISTORY_TAG, "false").lower() == "true"


def marts_run_tags(sync_run_id: str, sync_tags: Mapping[str, str]) -> dict[str, str]:
    """The tags of the marts run that follows sync run `sync_run_id` (its partition aside)."""
    return {SYNC_RUN_TAG: sync_run_id,
            **{tag: sync_tags[tag] for tag in CARRIED_TAGS if tag in sync_tags}}


@dg.run_status_sensor(
    name="creator_marts_sensor",
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[creator_sync_job],
    request_job=creator_marts_job,
    minimum_interval_seconds=2,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="For each successful creator_sync run that materialized a staging asset (or "
    "read the full history), requests the creator's creator_marts run, with the sync's as-of "
    "and full-history tags (run key: the sync's run id, so it launches once). A sync that "
    "staged nothing new gets none: its creator's marts are current.",
)
def creator_marts_sensor(context: dg.RunStatusSensorContext):
    run = context.dagster_run
    creator_id = run.tags.get(PARTITION_TAG)
    if creator_id is None:
        return None
    if not (full_history(run.tags) or run_staged_anything(context.instance, run.run_id)):
        # Nothing new: no request. Returning nothing lets the same tick go on to the next run.
        context.log.info(f"creator_sync run {run.run_id} of {creator_id} staged nothing new")
        return None
    return dg.RunRequest(
        partition_key=creator_id,
        run_key=f"marts:{run.run_id}",
        tags=marts_run_tags(run.run_id, run.tags),
    )
