"""Lifecycle models per creator: engagement signals, the relationship stage and the classifier's
per-fan view (SQL models, sql/intermediate/), and the append-only lifecycle log, all before
marts/fan_profile, which joins them. The marts' layer steps build them (defs/marts/assets.py):
the log is a plain function of the lake, so it shares a step with the models it reads.
"""

import dagster as dg
import duckdb

from ofhq_pipeline.defs.models import ModelOptions, Step, write_sql
from ofhq_pipeline.lake import quote
from ofhq_pipeline.lifecycle.models import LOG_KEY, record_events


def counted_by(column: str) -> ModelOptions:
    """The usual write, with the fans per `column` value shown with each materialization."""

    def write(step: Step, con: duckdb.DuckDBPyConnection, key: str) -> tuple[int, dict]:
        rows, _ = write_sql(step, con, key)
        counts = con.execute(
            f"SELECT {column}, count(*) FROM read_parquet({quote(step.path)}) "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
        return rows, {f"{column}s": dg.MetadataValue.json(dict(counts))}

    return ModelOptions(write=write)


def write_lifecycle_log(step: Step, con: duckdb.DuckDBPyConnection, key: str) -> tuple[int, dict]:
    """Appends this evaluation's stage changes and milestones to the creator's log (its own
    session, under the log's lock) and publishes the log into the run's marts."""
    recorded = record_events(step.store, step.creator_id, as_of=step.as_of,
                             run_id=step.context.run_id)
    step.context.log.info(
        f"{recorded.stage_changes} stage changes and {recorded.milestones} milestones appended "
        f"as of {step.as_of.isoformat()}; {recorded.total} events in the log"
    )
    return recorded.total, {
        "path": dg.MetadataValue.path(str(recorded.path)),
        "appended": recorded.appended,
        "stage_changes": recorded.stage_changes,
        "milestones": recorded.milestones,
    }


lifecycle_models = {
    "intermediate/fan_personality": ModelOptions(),
    "intermediate/fan_engagement": counted_by("temperature"),
    "intermediate/fan_stage": counted_by("stage"),
    LOG_KEY: ModelOptions(write=write_lifecycle_log),
}
