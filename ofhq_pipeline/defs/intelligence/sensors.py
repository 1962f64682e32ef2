"""Auto-classification after a debounce: a run for each creator whose debounced fans fall due.

A real-time run classifies a fan at most once per `debounce_minutes`; the fans it held back are
recorded with the instant they fall due (`lake/intelligence/due/<creator>.json`). This sensor
requests one run of the given job for each creator with fans due, tagged as real-time; the run
classifies them (their interval has passed) and clears the record. Without this sensor they
wait for the creator's next run of any kind.
"""


from datetime import UTC, datetime

import dagster as dg

from ofhq_pipeline.intelligence.store import due_creators
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.run_start import TRIGGER_TAG, WEBHOOK_TRIGGER


def build_reclassify_sensor(
    job,
    *,
    name: str = "reclassify_sensor",
    minimum_interval_seconds: int = 60,
) -> dg.SensorDefinition:
    """The sensor for `job` (one that materializes the intelligence assets for a creator)."""

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Requests a real-time run for each creator whose debounced fans are due for "
        "classification (run key: creator and due instant).",
    )
    def _sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
        due = due_creators(lake.lake(), datetime.now(UTC))
        if not due:
            return dg.SkipReason("no debounced fan is due")
        return dg.SensorResult(run_requests=[
            dg.RunRequest(
                partition_key=creator_id,
                run_key=f"reclassify:{creator_id}:{at.isoformat()}",
                tags={TRIGGER_TAG: WEBHOOK_TRIGGER},
            )
            for creator_id, at in sorted(due.items())
        ])

    return _sensor
