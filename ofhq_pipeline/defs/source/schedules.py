"""The periodic sync (every creator within a staleness target) and hourly creator discovery.

Each minute the periodic sync reads the recent creator syncs from Dagster's run storage (three
queries, whatever the number of creators), orders the creators by age (never synced first, then
the oldest) and launches a sync for each creator that would pass the target before a sync
launched at the next tick could land: as many as free run slots (`max_concurrent_syncs`, runs of
`creator_sync` and `creator_marts` queued or running counted) and the API's request budget left
this minute allow. The history lives in the run storage, so it survives daemon restarts and
needs no state of its own.

A sync is a `creator_sync` run and, when it staged anything, the `creator_marts` run
`creator_marts_sensor` launches after it (tagged with the sync's run id): a creator with either
queued or running is covered; a sync whose marts run failed does not count as one (its creator
keeps the age of his previous sync, so he falls due again); a sync lasts both runs.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import dagster as dg
import httpx

from ofhq_pipeline.defs.partitions import creator_partitions, creator_tags
from ofhq_pipeline.defs.source.jobs import (
    SYNC_RUN_TAG,
    creator_marts_job,
    creator_sync_job,
    discover_creators_job,
)
from ofhq_pipeline.resources.api import OfapiResource
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.rotation import RotationSettings
from ofhq_pipeline.source.budget import BudgetExhausted
from ofhq_pipeline.source.rotation import Plan, SyncHistory, plan

ROTATION_TAG = "ofhq/rotation"
PARTITION_TAG = "dagster/partition"
SYNC_JOB = creator_sync_job.name
MARTS_JOB = creator_marts_job.name
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
             dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
             dg.DagsterRunStatus.CANCELING]
MARTS_ENDED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE,
               dg.DagsterRunStatus.CANCELED]
# The success query reads the newest syncs only: enough for every creator several times over
# in a steady rotation. A creator absent from them counts as never synced, so he goes first,
# which errs on the side of syncing him.
SUCCESSES_PER_CREATOR = 4
MIN_SUCCESSES_READ = 20
REQUEST_SAMPLE_RUNS = 3  # the newest syncs whose raw metadata says what a sync costs


# ---- the run history ------------------------------------------------------------------------
def sync_started_at(record: dg.RunRecord) -> float:
    """When a sync fetched its data: its start, else its end, else when it was created."""
    return record.start_time or record.end_time or record.create_timestamp.timestamp()


def run_seconds(record: dg.RunRecord) -> float | None:
    start, end = record.start_time, record.end_time
    return end - start if start and end else None


@dataclasses.dataclass(frozen=True)
class SyncRecords:
    in_flight: list[dg.RunRecord]  # sync and marts runs queued or running
    done: list[dg.RunRecord]  # the newest successful sync runs, newest first
    marts: dict[str, dg.RunRecord]  # sync run id → its marts run, of those that ended


def sync_records(instance: dg.DagsterInstance, creators: int) -> SyncRecords:
    """The runs of the batch path the history needs, in three queries."""
    # Runs queued or running are few (a run slot each): filtered by job here, in one query.
    in_flight = [r for r in instance.get_run_records(filters=dg.RunsFilter(statuses=IN_FLIGHT))
                 if r.dagster_run.job_name in (SYNC_JOB, MARTS_JOB)]
    limit = max(MIN_SUCCESSES_READ, SUCCESSES_PER_CREATOR * creators)
    done = instance.get_run_records(
        filters=dg.RunsFilter(job_name=SYNC_JOB, statuses=[dg.DagsterRunStatus.SUCCESS]),
        limit=limit,
    )
    ended = instance.get_run_records(
        filters=dg.RunsFilter(job_name=MARTS_JOB, statuses=MARTS_ENDED), limit=limit)
    marts: dict[str, dg.RunRecord] = {}
    for record in ended:  # newest first: a retried marts run of a sync wins over the failed one
        sync_run = record.dagster_run.tags.get(SYNC_RUN_TAG)
        if sync_run and sync_run not in marts:
            marts[sync_run] = record
    return SyncRecords(in_flight, list(done), marts)


def landed(sync: dg.RunRecord, marts: dict[str, dg.RunRecord]) -> bool:
    """Whether the sync's data reached the marts, as far as the history tells: its marts run
    did not fail (none: nothing was new, or it is still to come)."""
    after = marts.get(sync.dagster_run.run_id)
    return after is None or after.dagster_run.status == dg.DagsterRunStatus.SUCCESS


def sync_seconds(sync: dg.RunRecord, marts: dict[str, dg.RunRecord]) -> float | None:
    """How long a sync held run slots: its run, and its marts run when it had one."""
    seconds = run_seconds(sync)
    after = marts.get(sync.dagster_run.run_id)
    if seconds is None or after is None:
        return seconds
    return seconds + (run_seconds(after) or 0.0)


def requests_of_run(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """API requests one sync made: the `requests` its raw assets recorded (None: none did)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    counts = [
        materialization.metadata["requests"].value
        for record in records
        if (materialization := record.asset_materialization) is not None
        and materialization.asset_key.path[0] == "raw"
        and "requests" in materialization.metadata
    ]
    return sum(counts) if counts else None


def sync_history(instance: dg.DagsterInstance, creators: int, *,
                 learn_requests: bool = True) -> SyncHistory:
    """What the run storage says of the recent syncs; with `learn_requests`, also the cost of
    the newest few (`with_requests`)."""
    records = sync_records(instance, creators)
    in_flight, done = records.in_flight, [r for r in records.done if landed(r, records.marts)]
    last: dict[str, float] = {}
    for record in done:  # newest first: the first seen is the latest
        partition = record.dagster_run.tags.get(PARTITION_TAG)
        if partition and partition not in last:
            last[partition] = sync_started_at(record)
    durations = tuple(d for r in done if (d := sync_seconds(r, records.marts)) is not None)
    history = SyncHistory(
        last_synced=last,
        in_flight=frozenset(p for r in in_flight if (p := r.dagster_run.tags.get(PARTITION_TAG))),
        in_flight_runs=len(in_flight),
        durations_s=durations,
        newest_runs=tuple(r.dagster_run.run_id for r in done[:REQUEST_SAMPLE_RUNS]),
    )
    return with_requests(instance, history) if learn_requests else history


def with_requests(instance: dg.DagsterInstance, history: SyncHistory) -> SyncHistory:
    """The history with the cost of its newest syncs: one query each, so a tick asks only when
    it is about to launch under a limited budget."""
    sampled = (requests_of_run(instance, run_id) for run_id in history.newest_runs)
    return dataclasses.replace(history, requests=tuple(n for n in sampled if n is not None))


# ---- the API --------------------------------------------------------------------------------
def api_unreachable(ofapi: OfapiResource) -> str | None:
    """Why the API cannot be reached now (one request, short timeouts), or None when it answers.

    Any answer below 500 counts as reachable: a 429 or a contract error is the sync's to handle.
    The probe is a request like any other, so it takes a token of the budget, without waiting.
    """
    with ofapi.client(connect_timeout=2.0, read_timeout=5.0, wait_for_budget=False) as client:
        try:
            response = client.http.get("/api/accounts")
        except httpx.TransportError as exc:
            return f"GET /api/accounts: {type(exc).__name__}"
    if response.status_code >= 500:
        return f"GET /api/accounts: HTTP {response.status_code}"
    return None


# ---- the tick -------------------------------------------------------------------------------
def tick_time(context: dg.ScheduleEvaluationContext) -> float:
    scheduled = context.scheduled_execution_time
    return (scheduled or datetime.now(UTC)).timestamp()


def minutes(seconds: float | None) -> str:
    return "never synced" if seconds is None else f"{seconds / 60:.0f} min old"


def who(creators: list[str]) -> str:
    return creators[0] if len(creators) == 1 else f"{creators[0]} and {len(creators) - 1} more"


def report_over_target(context: dg.ScheduleEvaluationContext, decision: Plan,
                       target_minutes: int) -> None:
    """The tick's log names every creator already older than the target: the per-creator view
    of freshness (the assets' freshness policies judge an asset, not a partition)."""
    if decision.over_target:
        ages = ", ".join(f"{c} ({minutes(age)})" for c, age in decision.over_target[:20])
        more = len(decision.over_target) - 20
        context.log.warning(
            f"{len(decision.over_target)} creator(s) older than the {target_minutes}-minute "
            f"target: {ages}" + (f" and {more} more" if more > 0 else ""))


def run_request(lake: LakeResource, creator_id: str, tick: float) -> dg.RunRequest:
    # The run key makes a tick evaluated twice launch each of its syncs once.
    return dg.RunRequest(
        partition_key=creator_id,
        run_key=f"{creator_id}@{int(tick)}",
        tags={ROTATION_TAG: "periodic", **creator_tags(lake.lake(), creator_id)},
    )


def decide(context: dg.ScheduleEvaluationContext, ofapi: OfapiResource,
           rotation: RotationSettings, creators: list[str]) -> tuple[Plan, str | None]:
    """The tick's plan, and why nothing may launch (None: launch `plan.launch`)."""
    now = tick_time(context)
    history = sync_history(context.instance, len(creators), learn_requests=False)
    budget = ofapi.budget()
    limits = rotation.limits(budget_remaining=None, budget_per_minute=budget.per_minute,
                             requests_per_sync=history.requests_per_sync(None))
    first = plan(creators, history, now, limits)
    report_over_target(context, first, rotation.staleness_target_minutes)
    if not first.launch:  # nothing due, or every run slot taken: no request spent on a probe
        return first, None
    # A sync run holds its creator's real-time runs (one run per creator at a time): during an
    # API outage it would hold them through every retry. The creators keep their place.
    try:
        unreachable = api_unreachable(ofapi)
    except BudgetExhausted as exc:
        return first, f"{who(first.due)} not synced yet: {exc}"
    if unreachable:
        return first, f"{who(first.due)} not synced: the API does not answer ({unreachable})"
    if not budget.limited:
        return first, None
    if rotation.requests_per_sync is None:
        history = with_requests(context.instance, history)
    limits = rotation.limits(budget_remaining=budget.remaining(),
                             budget_per_minute=budget.per_minute,
                             requests_per_sync=history.requests_per_sync(rotation.requests_per_sync))
    return plan(creators, history, now, limits), None


def skip_reason(decision: Plan, rotation: RotationSettings) -> str:
    target = rotation.staleness_target_minutes
    if not decision.due:
        upcoming = ("" if decision.next_due_in_s is None
                    else f"; the next is due in {decision.next_due_in_s / 60:.0f} min")
        return f"every creator is within the {target}-minute target{upcoming}"
    why = (f"max_concurrent_syncs {rotation.max_concurrent_syncs} queued or running"
           if decision.held_by == "run slots"
           else "what is left of this minute's budget pays for no sync")
    return f"{who(decision.due)} due, none launched: held by the {decision.held_by} ({why})"


@dg.schedule(
    cron_schedule="* * * * *",
    job=creator_sync_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every minute: syncs each creator whose data would otherwise pass the staleness "
    "target (45 minutes by default), never-synced and oldest first, as many as the free run "
    "slots and the API request budget allow. Skips the tick while the API does not answer.",
)
def periodic_sync_schedule(
    context: dg.ScheduleEvaluationContext,
    ofapi: OfapiResource,
    lake: LakeResource,
    rotation: RotationSettings,
):
    creators = sorted(context.instance.get_dynamic_partitions(creator_partitions.name))
    if not creators:
        return dg.SkipReason("no creator partitions yet: the discovery schedule adds them")
    decision, refused = decide(context, ofapi, rotation, creators)
    if refused:
        return dg.SkipReason(refused)
    if not decision.launch:
        return dg.SkipReason(skip_reason(decision, rotation))
    if decision.held_by:
        context.log.info(f"{len(decision.due)} creator(s) due, {len(decision.launch)} launched: "
                         f"the rest wait for the {decision.held_by}")
    tick = tick_time(context)
    return [run_request(lake, creator_id, tick) for creator_id in decision.launch]


creator_discovery_schedule = dg.ScheduleDefinition(
    name="creator_discovery_schedule",
    cron_schedule="0 * * * *",
    job=discover_creators_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: reads the connected accounts and updates the creator partitions.",
)
