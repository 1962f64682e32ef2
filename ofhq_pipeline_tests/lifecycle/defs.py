"""The code location with the lifecycle and the report wired in, as definitions.py will have it.

Tests build it themselves, so they run before the shared wiring exists and keep running (on
definitions.py alone) once it does.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from ofhq_pipeline.definitions import build_definitions
from ofhq_pipeline.defs.lifecycle.assets import lifecycle_assets, with_lifecycle
from ofhq_pipeline.defs.lifecycle.jobs import stage_decay_job
from ofhq_pipeline.defs.lifecycle.schedules import stage_decay_schedule
from ofhq_pipeline.defs.report.assets import (
    report_assets,
    system_report_job,
    system_report_schedule,
)
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.sync_settings import SyncSettings


def lifecycle_definitions(home: Path | None = None) -> dg.Definitions:
    """definitions.py's location plus the lifecycle; with `home`, every file under it."""
    base = build_definitions()
    keys = {key for asset in base.assets for key in asset.keys}
    assets = list(base.assets)
    if lifecycle_assets[-1].key not in keys:  # not wired in definitions.py yet
        assets = [*with_lifecycle(assets), *lifecycle_assets, *report_assets]
    jobs = {job.name: job for job in [stage_decay_job, system_report_job, *base.jobs]}
    schedules = {s.name: s for s in [stage_decay_schedule, system_report_schedule, *base.schedules]}
    resources = dict(base.resources)
    if home is not None:
        resources["lake"] = LakeResource(
            home=str(home),
            warehouse_path=str(home / "warehouse.duckdb"),
            analysts_marts_path=str(home / "marts.duckdb"),
        )
        resources["sync"] = SyncSettings()
    return dg.Definitions(assets=assets, jobs=list(jobs.values()),
                          schedules=list(schedules.values()), sensors=base.sensors,
                          resources=resources)
