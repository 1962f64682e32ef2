"""Re-evaluating one creator's stages from what the lake already holds: no API call."""

import dagster as dg

from ofhq_pipeline.defs.models import domains
from ofhq_pipeline.defs.partitions import creator_partitions
from ofhq_pipeline.resources.sync_settings import REBUILD_MARTS_TAG

STAGE_DECAY_TRIGGER = {"ofhq/trigger": "stage_decay"}

# Staging → marts → published file for one creator: raw (the API and the landing store), the
# real-time alerts and the classifier (which may call an LLM) are left out.
stage_decay_job = dg.define_asset_job(
    "stage_decay",
    selection=dg.AssetSelection.groups("staging", "intermediate", "marts", "published")
    - domains("intelligence", "vault", "ltv", "chatters", "segments", "blasts"),
    partitions_def=creator_partitions,
    executor_def=dg.in_process_executor,
    description="Rebuilds one creator's staging, marts and lifecycle as of the run's instant from "
    "the lake alone, so stages decay (active_buyer → cooling_off → …) without any new event.",
    # Nothing new in staging is the usual case here: the marts are rebuilt all the same.
    tags={**STAGE_DECAY_TRIGGER, REBUILD_MARTS_TAG: "true"},
)
