"""Round-robin periodic sync (the next creator every 5 minutes) and hourly creator discovery."""


import dagster as dg

from ofhq_pipeline.defs.creators.jobs import creator_sync_job, discover_creators_job
from ofhq_pipeline.defs.creators.partitions import creator_partitions

ROTATION_TAG = "ofhq/rotation"
PARTITION_TAG = "dagster/partition"


def next_in_rotation(creators: list[str], last: str | None) -> str:
    """The creator after `last` in id order, wrapping around.

    Keyed by id rather than position, so creators added or removed between ticks neither
    skip anyone nor sync anyone twice in a round.
    """
    ordered = sorted(creators)
    if last is not None:
        for creator_id in ordered:
            if creator_id > last:
                return creator_id
    return ordered[0]


def last_rotated_creator(instance: dg.DagsterInstance) -> str | None:
    """The rotation's cursor is the newest run it launched: it lives in the run storage, so it
    survives daemon restarts without a state file of its own."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={ROTATION_TAG: "periodic"}), limit=1)
    return runs[0].tags.get(PARTITION_TAG) if runs else None


@dg.schedule(
    cron_schedule="*/5 * * * *",
    job=creator_sync_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 5 minutes, syncs the next creator in id order (9 creators: each every "
    "45 minutes).",
)
def periodic_sync_schedule(context: dg.ScheduleEvaluationContext):
    creators = context.instance.get_dynamic_partitions(creator_partitions.name)
    if not creators:
        return dg.SkipReason("no creator partitions yet: the discovery schedule adds them")
    creator_id = next_in_rotation(creators, last_rotated_creator(context.instance))
    return dg.RunRequest(partition_key=creator_id, tags={ROTATION_TAG: "periodic"})


creator_discovery_schedule = dg.ScheduleDefinition(
    name="creator_discovery_schedule",
    cron_schedule="0 * * * *",
    job=discover_creators_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: reads the connected accounts and updates the creator partitions.",
)
