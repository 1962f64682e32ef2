"""Creator sync runs recorded in a real Dagster instance at chosen instants, as the daemon and a
run worker would leave them: the run, its start, its raw assets' `requests` (and staging, when
it staged anything), its end; and the creator_marts run that follows a sync."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import dagster as dg
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry
from dagster._core.utils import make_new_run_id
from dagster._record import copy

from ofhq_pipeline.defs.source.jobs import SYNC_RUN_TAG

SYNC_JOB = "creator_sync"
MARTS_JOB = "creator_marts"
PARTITION_TAG = "dagster/partition"
STAGED = ("staging/transactions", "staging/fans")  # what a sync that staged anything records


def sync_job() -> dg.JobDefinition:
    from ofhq_pipeline.definitions import build_definitions

    return build_definitions().resolve_job_def(SYNC_JOB)


def emit(instance: dg.DagsterInstance, run_id: str, kind: DagsterEventType, at: float,
         data: object = None, *, job_name: str = SYNC_JOB) -> None:
    """One event of the run, stamped `at` (epoch seconds): the run storage takes a run's start
    and end times from its events' timestamps."""
    instance.handle_new_event(EventLogEntry(
        error_info=None, level=logging.DEBUG, user_message="", run_id=run_id, timestamp=at,
        step_key=None, job_name=job_name,
        dagster_event=DagsterEvent(event_type_value=kind.value, job_name=job_name,
                                   event_specific_data=data),
    ))


def new_run(instance: dg.DagsterInstance, job: dg.JobDefinition, tags: Mapping[str, str],
            run_config: Mapping | None = None) -> dg.DagsterRun:
    """A run of the job, not started. Planning a job's steps takes a while, so every run after
    the instance's first of the job is that first one's copy (the same job and plan snapshots)
    under a new id and its own tags (and run config, when given)."""
    [template] = instance.get_runs(dg.RunsFilter(job_name=job.name), limit=1) or [None]
    if template is None:
        return instance.create_run_for_job(job_def=job, tags=tags, run_config=run_config)
    run = copy(template, run_id=make_new_run_id(), tags=dict(tags),
               status=dg.DagsterRunStatus.NOT_STARTED, run_config=dict(run_config or {}))
    return instance.add_run(run)


def start_sync(instance: dg.DagsterInstance, job: dg.JobDefinition, creator: str, at: float,
               tags: Mapping[str, str] | None = None, run_config: Mapping | None = None) -> str:
    """A run of `job` (the sync job, unless told) for `creator` that started at `at` and is
    still running; its run id."""
    run = new_run(instance, job, {**(tags or {}), PARTITION_TAG: creator}, run_config)
    emit(instance, run.run_id, DagsterEventType.RUN_START, at, job_name=job.name)
    return run.run_id


def materialize(instance: dg.DagsterInstance, run_id: str, key: str, at: float,
                metadata: Mapping | None = None, *, job_name: str = SYNC_JOB) -> None:
    materialization = dg.AssetMaterialization(asset_key=key.split("/"), metadata=metadata)
    emit(instance, run_id, DagsterEventType.ASSET_MATERIALIZATION, at,
         StepMaterializationData(materialization), job_name=job_name)


def finish_sync(instance: dg.DagsterInstance, run_id: str, at: float,
                requests: int | None = None, *, failed: bool = False,
                staged: Sequence[str] = ()) -> None:
    """The run ends at `at`; with `requests`, its raw assets first record that many (two assets,
    as a sync's raw feeds each record their own); `staged`: the staging assets it materialized
    (a sync that staged nothing new materializes none). Any run of the instance: its job is
    read from the run storage."""
    job_name = instance.get_run_by_id(run_id).job_name
    if requests is not None:
        for key, share in (("raw/fans", requests // 2),
                           ("raw/transactions", requests - requests // 2)):
            materialize(instance, run_id, key, at, {"requests": share}, job_name=job_name)
    for key in staged:
        materialize(instance, run_id, key, at, job_name=job_name)
    emit(instance, run_id, DagsterEventType.RUN_FAILURE if failed else DagsterEventType.RUN_SUCCESS,
         at, job_name=job_name)


def start_marts(instance: dg.DagsterInstance, job: dg.JobDefinition, sync_run_id: str,
                at: float) -> str:
    """The creator_marts run that follows sync `sync_run_id`, as creator_marts_sensor requests
    it (its creator, tagged with the sync's run id), started at `at`; its run id."""
    creator = instance.get_run_by_id(sync_run_id).tags[PARTITION_TAG]
    return start_sync(instance, job, creator, at, tags={SYNC_RUN_TAG: sync_run_id})


def record_sync(instance: dg.DagsterInstance, job: dg.JobDefinition, creator: str,
                started: float, ended: float, requests: int | None = None) -> str:
    """A finished, successful sync of `creator`; its run id."""
    run_id = start_sync(instance, job, creator, started)
    finish_sync(instance, run_id, ended, requests)
    return run_id


def marts_sensor_tick(instance: dg.DagsterInstance, cursor: str | None,
                      defs: dg.Definitions | None = None):
    """One evaluation of creator_marts_sensor from `cursor`, as the daemon makes it: its run
    requests resolved against the job and the instance's partitions (None: its first tick,
    which only sets the cursor)."""
    from dagster._core.definitions.partitions.context import partition_loading_context

    from ofhq_pipeline.definitions import build_definitions
    from ofhq_pipeline.defs.source.sensors import creator_marts_sensor

    context = dg.build_sensor_context(
        instance=instance, cursor=cursor,
        repository_def=(defs or build_definitions()).get_repository_def())
    with partition_loading_context(dynamic_partitions_store=instance):
        return creator_marts_sensor.evaluate_tick(context)
