"""Round-robin periodic sync (the next creator every 5 minutes) and hourly creator discovery."""


import dagster as dg
import httpx

from ofhq_pipeline.defs.partitions import creator_partitions, creator_tags
from ofhq_pipeline.defs.source.jobs import creator_sync_job, discover_creators_job
from ofhq_pipeline.resources.api import OfapiResource
from ofhq_pipeline.resources.lake import LakeResource

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


def api_unreachable(ofapi: OfapiResource) -> str | None:
    """Why the API cannot be reached now (one request, short timeouts), or None when it answers.

    Any answer below 500 counts as reachable: a 429 or a contract error is the sync's to handle.
    """
    with ofapi.client(connect_timeout=2.0, read_timeout=5.0) as client:
        try:
            response = client.http.get("/api/accounts")
        except httpx.TransportError as exc:
            return f"GET /api/accounts: {type(exc).__name__}"
    if response.status_code >= 500:
        return f"GET /api/accounts: HTTP {response.status_code}"
    return None


@dg.schedule(
    cron_schedule="*/5 * * * *",
    job=creator_sync_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 5 minutes, syncs the next creator in id order (9 creators: each every "
    "45 minutes). Skips the tick while the API does not answer.",
)
def periodic_sync_schedule(
    context: dg.ScheduleEvaluationContext, ofapi: OfapiResource, lake: LakeResource
):
    creators = context.instance.get_dynamic_partitions(creator_partitions.name)
    if not creators:
        return dg.SkipReason("no creator partitions yet: the discovery schedule adds them")
    creator_id = next_in_rotation(creators, last_rotated_creator(context.instance))
    # A sync run holds its creator's real-time runs (one run per creator at a time): during an
    # API outage it would hold them through every retry. The creator keeps its turn.
    unreachable = api_unreachable(ofapi)
    if unreachable:
        return dg.SkipReason(f"{creator_id} not synced: the API does not answer ({unreachable})")
    return dg.RunRequest(partition_key=creator_id,
                         tags={ROTATION_TAG: "periodic", **creator_tags(lake.lake(), creator_id)})


creator_discovery_schedule = dg.ScheduleDefinition(
    name="creator_discovery_schedule",
    cron_schedule="0 * * * *",
    job=discover_creators_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: reads the connected accounts and updates the creator partitions.",
)
