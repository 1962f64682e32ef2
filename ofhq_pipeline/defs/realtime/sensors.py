"""The webhook sensor: landed events past its cursor become one run per affected creator."""

from contextlib import closing

import dagster as dg

from ofhq_pipeline.defs.partitions import creator_partitions, has_run, is_creator_id
from ofhq_pipeline.defs.realtime.jobs import realtime_update_job
from ofhq_pipeline.resources.landing import LandingResource

WAITING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED]


def has_waiting_run(instance: dg.DagsterInstance, creator_id: str) -> bool:
    return has_run(instance, creator_id, WAITING, job_name=realtime_update_job.name)


@dg.sensor(
    job=realtime_update_job,
    minimum_interval_seconds=1,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads landed webhook events past its cursor, registers new creators as "
    "partitions, and requests a real-time run per affected creator (run key: creator and newest "
    "event id, so a tick evaluated twice launches nothing twice).",
)
def webhook_sensor(context: dg.SensorEvaluationContext, landing: LandingResource):
    cursor = int(context.cursor or 0)
    with closing(landing.store()) as store:
        newest, last_id = store.creators_after(cursor)
    if last_id == cursor:
        return dg.SkipReason(f"no event landed past id {cursor}")
    creators = {c: i for c, i in newest.items() if is_creator_id(c)}
    ignored = sorted(str(c) for c in newest if c not in creators)
    if ignored:  # still stored and counted in the landing store; there is no partition for them
        context.log.warning(f"events without a usable account_id: {ignored[:10]}")
    known = set(context.instance.get_dynamic_partitions(creator_partitions.name))
    added = sorted(set(creators) - known)
    # A run still waiting in the queue reads every event landed before it starts: a burst for
    # one creator needs no second run behind it.
    waiting = {c for c in creators if has_waiting_run(context.instance, c)}
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(partition_key=creator_id, run_key=f"{creator_id}:{event_id}")
            for creator_id, event_id in sorted(creators.items())
            if creator_id not in waiting
        ],
        dynamic_partitions_requests=[creator_partitions.build_add_request(added)] if added else [],
        cursor=str(last_id),
    )
