"""The blast job: one creator's blast to one segment, and the marts of its results, published."""

import dagster as dg

from ofhq_pipeline.defs.partitions import creator_partitions

BLAST_TRIGGER = {"ofhq/trigger": "blast"}

segment_blast_job = dg.define_asset_job(
    "segment_blast",
    selection=dg.AssetSelection.assets(
        ["blasts", "sends"], ["marts", "blast_recipients"], ["marts", "blasts"],
        ["marts", "system_stats"], ["marts", "fan_agency"], ["published", "analysts_marts"]),
    partitions_def=creator_partitions,
    executor_def=dg.in_process_executor,
    description="Sends one segment's mass message for one creator (a dry run unless the run's "
    "tag ofhq/blast_confirm is true), then rebuilds and publishes marts.blasts and "
    "marts.blast_recipients. Tags: ofhq/blast_segment, _text, _media, _price, _at, _confirm, _id.",
    tags=BLAST_TRIGGER,
)
