"""Lifetime value and churn per creator : marts/fan_ltv, MBG/NBD + Gamma-Gamma
fitted on the creator's discretionary purchases (the agency's pool when he has too few repeat
buyers), with the fitted parameters in the materialization's metadata.

A plain function of the lake, built by the marts' layer step that builds fan_profile, which it
reads (defs/marts/assets.py); its run config is that step's `fan_ltv` section.
"""

import dagster as dg
import duckdb
from pydantic import Field

from ofhq_pipeline.defs.models import ModelOptions, Step
from ofhq_pipeline.ltv.build import LtvConfig, build_fan_ltv

FAN_LTV = "marts/fan_ltv"


class FanLtvConfig(dg.Config):
    min_repeat_buyers: int = Field(
        default=30, description="fewer fans with repeat purchases: fit on the agency's pool"
    )
    penalizer: float = Field(default=0.0, description="L2 penalty on the parameters (0: plain MLE)")


def write_fan_ltv(step: Step, con: duckdb.DuckDBPyConnection, key: str) -> tuple[int, dict]:
    """Fits and predicts in its own session (it reads the run's fan_profile and transactions)."""
    config = step.config or FanLtvConfig()  # its section of the step's run config
    _, report = build_fan_ltv(
        step.store, step.creator_id, as_of=step.as_of, run_id=step.context.run_id,
        config=LtvConfig(config.min_repeat_buyers, config.penalizer),
    )
    if report.status != "ok":
        step.context.log.warning(f"{step.creator_id}: LTV fit failed: {report.error}")
    return report.fans, report.metadata()


ltv_models = {FAN_LTV: ModelOptions(write=write_fan_ltv, config=FanLtvConfig)}
