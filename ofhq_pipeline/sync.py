"""Running the batch path from the command line: discovery, then each creator's sync.

A creator's sync is a `creator_sync` run (raw → staging), then, when it staged anything, a
`creator_marts` run (everything past staging) with the same tags, as `creator_marts_sensor` does
under the daemon. Runs go into the Dagster instance at DAGSTER_HOME, so they show in the UI like
scheduled ones. A failing creator is reported and the others go on.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from ofhq_pipeline.defs.partitions import creator_partitions
from ofhq_pipeline.defs.source.jobs import creator_marts_job, creator_sync_job
from ofhq_pipeline.defs.source.sensors import full_history, marts_run_tags, staged_anything
from ofhq_pipeline.resources.sync_settings import AS_OF_TAG, FULL_HISTORY_TAG
from ofhq_pipeline.settings import PROJECT_ROOT, Paths


@dataclass
class CreatorRun:
    """One creator's sync: its `creator_sync` run and, when that staged anything, its
    `creator_marts` run. `success`, `error` (the first) and `metadata` cover both."""

    creator_id: str
    run_id: str  # the creator_sync run
    success: bool
    error: str | None = None
    metadata: dict[str, dict] = field(default_factory=dict)
    marts_run_id: str | None = None  # the creator_marts run; None: nothing new to build

    @property
    def run_ids(self) -> list[str]:
        return [self.run_id] + ([self.marts_run_id] if self.marts_run_id else [])


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME as the README sets it, or $OFHQ_HOME/dagster, with our dagster.yaml in it."""
    home = Paths.from_env().dagster_home
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copy(PROJECT_ROOT / "dagster.yaml", config)
    return home


def quiet_logging() -> dict:
    return {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def step_failure(result: dg.ExecuteInProcessResult) -> str | None:
    """What failed first: a step, or a resource refusing to start (e.g. a locked field)."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            error, where = event.step_failure_data.error, event.step_key
        elif event.is_resource_init_failure and event.engine_event_data.error:
            error, where = event.engine_event_data.error, "resources"
        elif event.is_run_failure and getattr(event.event_specific_data, "error", None):
            error, where = event.event_specific_data.error, "run"  # e.g. a resource refused
        else:
            continue
        while error.cause is not None:  # the framework's wrapper says little; its cause says what
            error = error.cause
        return f"{where}: {error.message.strip()}"
    return None if result.success else "run failed (see the run in the Dagster UI)"


def materialization_metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        found[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return found


def discover(defs: dg.Definitions, instance: dg.DagsterInstance) -> list[str]:
    result = defs.resolve_job_def("discover_creators").execute_in_process(
        instance=instance, run_config=quiet_logging(), raise_on_error=False
    )
    if not result.success:
        raise RuntimeError(f"creator discovery failed: {step_failure(result)}")
    return sorted(instance.get_dynamic_partitions(creator_partitions.name))


def sync_creator(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    creator_id: str,
    *,
    full: bool = False,
    as_of: str | None = None,
) -> CreatorRun:
    tags = {FULL_HISTORY_TAG: str(full).lower()}
    if as_of:
        tags[AS_OF_TAG] = as_of

    def run(job_name: str, run_tags: dict[str, str]) -> dg.ExecuteInProcessResult:
        return defs.resolve_job_def(job_name).execute_in_process(
            instance=instance,
            partition_key=creator_id,
            tags=run_tags,
            run_config=quiet_logging(),
            raise_on_error=False,
        )

    synced = run(creator_sync_job.name, tags)
    runs = [synced]
    metadata = materialization_metadata(synced)
    # Staging yielded nothing (nothing new, marts current): no second run, as under the daemon.
    staged = staged_anything(event.asset_key for event in synced.get_asset_materialization_events())
    if synced.success and (staged or full_history(tags)):
        runs.append(run(creator_marts_job.name, marts_run_tags(synced.run_id, tags)))
        metadata.update(materialization_metadata(runs[-1]))
    return CreatorRun(
        creator_id=creator_id,
        run_id=synced.run_id,
        success=all(r.success for r in runs),
        error=next((e for r in runs if (e := step_failure(r)) is not None), None),
        metadata=metadata,
        marts_run_id=runs[1].run_id if len(runs) > 1 else None,
    )


def sync(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    *,
    creators: list[str] | None = None,
    full: bool = False,
    as_of: str | None = None,
    on_start: Callable[[list[str]], None] | None = None,
    on_done: Callable[[CreatorRun], None] | None = None,
) -> list[CreatorRun]:
    """Discover creators, then sync each requested one (all by default) in its own run."""
    known = discover(defs, instance)
    unknown = sorted(set(creators or []) - set(known))
    if unknown:
        raise ValueError(f"unknown creator(s) {unknown}; connected: {known}")
    selected = creators or known
    if on_start:
        on_start(selected)
    runs = []
    for creator_id in selected:
        run = sync_creator(defs, instance, creator_id, full=full, as_of=as_of)
        runs.append(run)
        if on_done:
            on_done(run)
    return runs
