"""The lifecycle steps alone, and `builders.build` (which runs them in their place)."""

from __future__ import annotations

from datetime import datetime

from ofhq_pipeline import registry
from ofhq_pipeline.lake import Lake
from ofhq_pipeline.lifecycle.models import record_events
from ofhq_pipeline_tests.builders import (  # noqa: F401  (build: re-exported)
    CREATOR,
    build,
    build_model,
)

INTERMEDIATE = [m.key for m in registry.models(layer="intermediate", domain="lifecycle")]


def build_lifecycle(lake: Lake, as_of: datetime, *, creator_id: str = CREATOR,
                    run_id: str = "run1"):
    """The lifecycle models and the log, for marts already built up to intermediate.fan_money."""
    for model in registry.in_build_order(INTERMEDIATE):
        build_model(lake, model.key, as_of=as_of, creator_id=creator_id, run_id=run_id)
    return record_events(lake, creator_id, as_of=as_of, run_id=run_id)
