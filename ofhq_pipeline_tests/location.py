"""The code location as definitions.py builds it, with its files under a test's own folder."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from ofhq_pipeline.definitions import build_definitions
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.sync_settings import SyncSettings


def lake_at(home: Path) -> LakeResource:
    return LakeResource(home=str(home), warehouse_path=str(home / "warehouse.duckdb"),
                        analysts_marts_path=str(home / "marts.duckdb"))


def definitions_at(home: Path, assets: list | None = None, **resources) -> dg.Definitions:
    """definitions.py's location with every file under `home` (and `assets` in place of the
    location's ones with the same keys, `resources` in place of its ones)."""
    base = build_definitions()
    replaced = {key for asset in assets or [] for key in asset.keys}
    kept = [a for a in base.assets if not replaced & set(a.keys)]
    return dg.Definitions(
        assets=[*kept, *(assets or [])], jobs=base.jobs, schedules=base.schedules,
        sensors=base.sensors,
        resources={**base.resources, "lake": lake_at(home), "sync": SyncSettings(), **resources},
    )
