"""The daily stage decay: every creator re-evaluated as of the tick, with no new data needed."""

import dagster as dg

from ofhq_pipeline.defs.lifecycle.jobs import STAGE_DECAY_TRIGGER, stage_decay_job
from ofhq_pipeline.defs.partitions import creator_partitions
from ofhq_pipeline.resources.sync_settings import AS_OF_TAG


@dg.schedule(
    cron_schedule="0 4 * * *",
    execution_timezone="UTC",
    job=stage_decay_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 04:00 UTC: one stage_decay run per creator, as of the tick's instant "
    "(run tag ofhq/as_of), so a fan nobody heard from moves to cooling_off, at_risk and churned "
    "on time, and the change is recorded in fan_lifecycle_events.",
)
def stage_decay_schedule(context: dg.ScheduleEvaluationContext):
    creators = sorted(context.instance.get_dynamic_partitions(creator_partitions.name))
    if not creators:
        return dg.SkipReason("no creator partitions yet: the discovery schedule adds them")
    at = context.scheduled_execution_time
    return [
        dg.RunRequest(
            run_key=f"stage_decay:{creator_id}:{at:%Y-%m-%dT%H:%M}",
            partition_key=creator_id,
            tags={AS_OF_TAG: at.isoformat(), **STAGE_DECAY_TRIGGER},
        )
        for creator_id in creators
    ]
