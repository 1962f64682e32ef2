"""Fan intelligence per creator: the classifier's tables (classifier.md), one multi-asset.

One step reads the creator's `staging.messages` and `marts.transactions`, classifies the fans
whose window changed (the LLM with a key, `rules-v1` without), folds the results into the
classifier's state in the lake and writes five marts into the run's folder, which `publish`
makes current with the run's other marts. In a real-time run (tag `ofhq/trigger=webhook`) a fan
is classified at most once per `debounce_minutes`.

The run's as-of (OFHQ_AS_OF, the `ofhq/as_of` tag, else the run's start) is the one clock: every
instant the step records (`classified_at`, facts' first/last seen, intents' `detected_at`) is it,
so the same inputs and as-of give the same marts, and none lies after the as-of they describe.
"""


import time
from datetime import timedelta

import dagster as dg

from ofhq_pipeline.defs.models import asset_key, spec
from ofhq_pipeline.defs.partitions import creator_partitions
from ofhq_pipeline.intelligence.engine import classify_creator
from ofhq_pipeline.intelligence.llm import LLMClassifier
from ofhq_pipeline.intelligence.store import MART_TABLES
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.openai_classifier import OpenAIClassifierResource
from ofhq_pipeline.resources.sync_settings import SyncSettings
from ofhq_pipeline.run_start import is_realtime


@dg.multi_asset(
    specs=[spec(f"marts/{table}", kinds={"openai", "parquet"}) for table in MART_TABLES],
    partitions_def=creator_partitions,
    name="fan_intelligence",
)
def fan_intelligence(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    sync: SyncSettings,
    classifier: OpenAIClassifierResource,
):
    started = time.perf_counter()
    store = lake.lake()
    creator_id = context.partition_key
    as_of = sync.resolve_as_of(context)
    realtime = is_realtime(context.run.tags)
    debounce = timedelta(minutes=classifier.debounce_minutes) if realtime else timedelta(0)
    engine = classifier.classifier()
    try:
        report = classify_creator(
            store,
            creator_id,
            engine,
            as_of=as_of,
            run_id=context.run_id,
            # The run's as-of, never the wall clock: a classification describes the window as of
            # then, and the debounce measures time on the same clock as the classified_at it reads.
            now=lambda: as_of,
            debounce=debounce,
            window_config=classifier.window_config(),
            intent_threshold=classifier.intent_threshold,
            max_failed_attempts=classifier.max_failed_attempts,
        )
    finally:
        if isinstance(engine, LLMClassifier):
            engine.close()
    context.log.info(
        f"{creator_id}: {report.classified} classified, {report.failed} failed, "
        f"{report.skipped_unchanged} unchanged, {report.pending_budget} pending (budget), "
        f"{report.debounced} debounced; {report.tokens} tokens, ${report.cost_usd:.4f} "
        f"({report.model})"
    )
    if report.stop_reason:
        context.log.warning(f"{creator_id}: stopped sending: {report.stop_reason}")
    seconds = round(time.perf_counter() - started, 3)
    for table in MART_TABLES:
        metadata = {
            "dagster/row_count": report.mart_rows.get(table, 0),
            "path": dg.MetadataValue.path(str(store.mart_path(table, creator_id, context.run_id))),
        }
        if table == "fan_classifications":
            metadata.update(report.metadata())
            metadata["realtime_debounce_minutes"] = debounce.total_seconds() / 60
            metadata["seconds"] = seconds  # the step's, all five tables
        yield dg.MaterializeResult(asset_key=asset_key(f"marts/{table}"), metadata=metadata)


intelligence_assets = [fan_intelligence]
