"""The real-time job: landed events of one creator → staging → marts → analysts, then alerts.

It reads only the landing store and the lake and calls no API, so an outage of the OnlyFans
API never delays real-time updates. In-process: one run is one Python process, no subprocess per
step, which is most of the latency budget.
"""

import dagster as dg

from ofhq_pipeline.defs.models import domains
from ofhq_pipeline.defs.partitions import creator_partitions
from ofhq_pipeline.run_start import REALTIME_JOB, TRIGGER_TAG, WEBHOOK_TRIGGER

REALTIME_PRIORITY = 10
REALTIME_RETRIES = 2

realtime_update_job = dg.define_asset_job(
    REALTIME_JOB,
    # What one event can change for analysts now; chatter KPIs, the vault, segments, lifetime
    # value, the blasts' results and the report change with time rather than with one event: the periodic sync and
    # their schedules keep them fresh, and every real-time run stays short.
    selection=dg.AssetSelection.assets(["raw", "webhook_events"]).downstream()
    - domains("chatters", "vault", "segments", "ltv", "report", "blasts"),
    partitions_def=creator_partitions,
    executor_def=dg.in_process_executor,
    description="Applies one creator's landed webhook events to the marts and sends alerts.",
    # Ahead of every batch run in the queue (Dagster dequeues by `dagster/priority`, default 0):
    # a purchase should not wait behind a sync of the whole agency. A failed run is run again
    # by the daemon (`run_retries` in dagster.yaml), every step: its raw step reads every event
    # landed by then, as the sensor holds back new runs of a creator while one waits.
    tags={TRIGGER_TAG: WEBHOOK_TRIGGER, "dagster/priority": str(REALTIME_PRIORITY),
          "dagster/max_retries": str(REALTIME_RETRIES), "dagster/retry_strategy": "ALL_STEPS"},
)
