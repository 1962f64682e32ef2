"""Lifetime value and churn per creator : marts/fan_ltv, MBG/NBD + Gamma-Gamma
fitted on the creator's discretionary purchases (the agency's pool when he has too few repeat
buyers), with the fitted parameters in the materialization's metadata."""

import dagster as dg
from pydantic import Field

from ofhq_pipeline.defs.models import asset_attributes, written_metadata
from ofhq_pipeline.ltv.build import LtvConfig, build_fan_ltv
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.sync_settings import SyncSettings

FAN_LTV = "marts/fan_ltv"


class FanLtvConfig(dg.Config):
    min_repeat_buyers: int = Field(
        default=30, description="fewer fans with repeat purchases: fit on the agency's pool"
    )
    penalizer: float = Field(default=0.0, description="L2 penalty on the parameters (0: plain MLE)")


@dg.asset(**asset_attributes(FAN_LTV))
def fan_ltv(
    context: dg.AssetExecutionContext,
    config: FanLtvConfig,
    lake: LakeResource,
    sync: SyncSettings,
) -> dg.MaterializeResult:
    store = lake.lake()
    as_of = sync.resolve_as_of(context)
    path, report = build_fan_ltv(
        store, context.partition_key, as_of=as_of, run_id=context.run_id,
        config=LtvConfig(config.min_repeat_buyers, config.penalizer),
    )
    if report.status != "ok":
        context.log.warning(f"{context.partition_key}: LTV fit failed: {report.error}")
    return dg.MaterializeResult(
        metadata={**written_metadata(FAN_LTV, path, report.fans, as_of), **report.metadata()})


ltv_assets = [fan_ltv]
