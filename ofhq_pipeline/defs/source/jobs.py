"""The jobs of the batch path: discover creators; sync one creator (raw → staging); build his
marts from what the sync staged.

A sync is two runs. `creator_sync` fetches and stages: when nothing is new for the creator (and
his marts are current), staging yields nothing and the run ends there, planning only its ~15
assets. When staging yielded anything, `creator_marts` builds everything past staging for the
same partition: `creator_marts_sensor` launches it under the daemon, `ofhq sync` runs it in
process (ofhq_pipeline/sync.py).
"""

import dagster as dg

from ofhq_pipeline.defs.partitions import creator_partitions

discover_creators_job = dg.define_asset_job(
    "discover_creators",
    selection=dg.AssetSelection.assets(["raw", "accounts"]),
    description="Reads GET /api/accounts and updates the creator partitions.",
)

# One creator's assets of the batch path: all but the accounts, the agency-wide report and the
# blasts' sending (a blast is its own job, segment_blast; its result marts are rebuilt here).
BATCH_PATH = (dg.AssetSelection.all() - dg.AssetSelection.assets(["raw", "accounts"])
              - dg.AssetSelection.groups("report", "blasts"))
# What a sync run holds: the API feeds, the landed webhook events, and staging.
SYNC_GROUPS = ("raw", "staging")

# For one creator partition, in one process each: the runs' DuckDB work is in-process anyway,
# and it avoids a subprocess per step.
creator_sync_job = dg.define_asset_job(
    "creator_sync",
    selection=BATCH_PATH & dg.AssetSelection.groups(*SYNC_GROUPS),
    partitions_def=creator_partitions,
    executor_def=dg.in_process_executor,
    description="Syncs one creator: raw (API and landed webhooks) → staging. When staging "
    "yields anything, creator_marts_sensor (or `ofhq sync`) runs creator_marts for him.",
)

creator_marts_job = dg.define_asset_job(
    "creator_marts",
    selection=BATCH_PATH - dg.AssetSelection.groups(*SYNC_GROUPS),
    partitions_def=creator_partitions,
    executor_def=dg.in_process_executor,
    description="Builds one creator's marts from what staging holds: fan intelligence → marts "
    "→ published analysts' file → alerts. Launched after a creator_sync run that staged "
    "anything.",
)

# On a creator_marts run: the creator_sync run whose staging it builds on (the periodic sync
# reads it to tell when a sync's marts landed; the UI shows it beside the run).
SYNC_RUN_TAG = "ofhq/sync_run"
