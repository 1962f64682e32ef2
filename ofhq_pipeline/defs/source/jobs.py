"""The two jobs of the batch path: discover creators, and sync one creator end to end."""

import dagster as dg

from ofhq_pipeline.defs.partitions import creator_partitions

discover_creators_job = dg.define_asset_job(
    "discover_creators",
    selection=dg.AssetSelection.assets(["raw", "accounts"]),
    description="Reads GET /api/accounts and updates the creator partitions.",
)

# Everything downstream of the accounts, for one creator partition, in one process: the run's
# DuckDB work is in-process anyway, and it avoids a subprocess per step.
creator_sync_job = dg.define_asset_job(
    "creator_sync",
    selection=dg.AssetSelection.all()
    - dg.AssetSelection.assets(["raw", "accounts"])
    - dg.AssetSelection.groups("report"),
    partitions_def=creator_partitions,
    executor_def=dg.in_process_executor,
    description="Syncs one creator: raw (API and landed webhooks) → staging → fan intelligence "
    "→ marts → published analysts' file → alerts.",
)
