"""The lifecycle steps alone, and `builders.build` (which runs them in their place)."""

from __future__ import annotations

from datetime import datetime

from ofhq_pipeline.lifecycle.models import INTERMEDIATE_MODELS, build_intermediate, record_events
from ofhq_pipeline.resources.lake import Lake
from ofhq_pipeline_tests.builders import CREATOR, build  # noqa: F401  (build: re-exported)


def build_lifecycle(lake: Lake, as_of: datetime, *, creator_id: str = CREATOR,
                    run_id: str = "run1"):
    """The lifecycle models and the log, for marts already built up to intermediate.fan_money."""
    for table in INTERMEDIATE_MODELS:
        build_intermediate(lake, table, creator_id, as_of=as_of, run_id=run_id)
    return record_events(lake, creator_id, as_of=as_of, run_id=run_id)
