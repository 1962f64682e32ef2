"""Creator sync runs recorded in a real Dagster instance at chosen instants, as the daemon and a
run worker would leave them: the run, its start, its raw assets' `requests`, its end."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import dagster as dg
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry
from dagster._core.utils import make_new_run_id
from dagster._record import copy

SYNC_JOB = "creator_sync"
PARTITION_TAG = "dagster/partition"


def sync_job() -> dg.JobDefinition:
    from ofhq_pipeline.definitions import build_definitions

    return build_definitions().resolve_job_def(SYNC_JOB)


def emit(instance: dg.DagsterInstance, run_id: str, kind: DagsterEventType, at: float,
         data: object = None) -> None:
    """One event of the run, stamped `at` (epoch seconds): the run storage takes a run's start
    and end times from its events' timestamps."""
    instance.handle_new_event(EventLogEntry(
        error_info=None, level=logging.DEBUG, user_message="", run_id=run_id, timestamp=at,
        step_key=None, job_name=SYNC_JOB,
        dagster_event=DagsterEvent(event_type_value=kind.value, job_name=SYNC_JOB,
                                   event_specific_data=data),
    ))


def new_run(instance: dg.DagsterInstance, job: dg.JobDefinition,
            tags: Mapping[str, str]) -> dg.DagsterRun:
    """A run of the sync job, not started. Planning the job's 60-odd steps takes half a second,
    so every run after the instance's first is that first one's copy (the same job and plan
    snapshots) under a new id and its own tags."""
    [template] = instance.get_runs(dg.RunsFilter(job_name=job.name), limit=1) or [None]
    if template is None:
        return instance.create_run_for_job(job_def=job, tags=tags)
    run = copy(template, run_id=make_new_run_id(), tags=dict(tags),
               status=dg.DagsterRunStatus.NOT_STARTED)
    return instance.add_run(run)


def start_sync(instance: dg.DagsterInstance, job: dg.JobDefinition, creator: str, at: float,
               tags: Mapping[str, str] | None = None) -> str:
    """A sync of `creator` that started at `at` and is still running; its run id."""
    run = new_run(instance, job, {**(tags or {}), PARTITION_TAG: creator})
    emit(instance, run.run_id, DagsterEventType.RUN_START, at)
    return run.run_id


def finish_sync(instance: dg.DagsterInstance, run_id: str, at: float,
                requests: int | None = None, *, failed: bool = False) -> None:
    """The run ends at `at`; with `requests`, its raw assets first record that many (two assets,
    as a sync's raw feeds each record their own)."""
    if requests is not None:
        for key, share in ((["raw", "fans"], requests // 2),
                           (["raw", "transactions"], requests - requests // 2)):
            materialization = dg.AssetMaterialization(asset_key=key, metadata={"requests": share})
            emit(instance, run_id, DagsterEventType.ASSET_MATERIALIZATION, at,
                 StepMaterializationData(materialization))
    emit(instance, run_id, DagsterEventType.RUN_FAILURE if failed else DagsterEventType.RUN_SUCCESS,
         at)


def record_sync(instance: dg.DagsterInstance, job: dg.JobDefinition, creator: str,
                started: float, ended: float, requests: int | None = None) -> str:
    """A finished, successful sync of `creator`; its run id."""
    run_id = start_sync(instance, job, creator, started)
    finish_sync(instance, run_id, ended, requests)
    return run_id
