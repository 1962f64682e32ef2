"""Reading back what a blast became: a scheduled message is delivered by the API at its time,
after the blast's run has ended, so its recipients stay `queued` (marts: `scheduled`) and have no
window to measure yet. `blast_outcomes_sensor` resumes each blast with sends whose time has come
and not read back: the run sends nothing new (every chunk is already queued), reads the queue
items' recipients, and rebuilds and publishes the blast's marts.
"""

from datetime import UTC, datetime

import dagster as dg

from ofhq_pipeline.blasts.plan import BlastRequest
from ofhq_pipeline.defs.blasts.jobs import segment_blast_job
from ofhq_pipeline.resources.landing import LandingResource

INTERVAL_SECONDS = 300


@dg.sensor(
    job=segment_blast_job,
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 5 minutes, resumes each blast whose scheduled sends are due and not yet "
    "read back, so sent and failed fans, and their 7-day windows, reach marts.blasts.",
)
def blast_outcomes_sensor(context: dg.SensorEvaluationContext, landing: LandingResource):
    now = datetime.now(UTC)
    # At most one run per blast per interval, even when its sends are still pending at the API.
    window = int(now.timestamp() // INTERVAL_SECONDS)
    with landing.blast_ledger() as ledger:
        due = ledger.awaiting_outcomes(now)
    if not due:
        return dg.SkipReason("no blast has sends due to be read back")
    return [dg.RunRequest(run_key=f"outcomes:{b.creator_id}:{b.blast_id}:{window}",
                          partition_key=b.creator_id, tags=BlastRequest.resuming(b).tags())
            for b in due]
