"""Chatter performance and conversation QA per creator .

- `chatter_performance` (one step, three marts): attributes every creator message and purchase
  to the chatter on shift (sql/chatters/), and writes `chatter_performance_daily`,
  `chatter_shift_performance` and `chatter_shift_issues` into the run's mart folder. Three
  non-blocking checks report what attribution could not decide: invalid shift entries (ERROR),
  overlapping chatters and creator messages in no shift (WARN; without any shift for the creator
  it could not judge, and says so as a WARN failure).
- `chat_qa_reviews`: samples each chatter's conversations per day and scores them (the LLM with a
  key, `qa-rules-v1` without); real-time runs (tag `ofhq/trigger=webhook`) send nothing and only
  rewrite the mart from what is kept.

Both read the run's `marts.transactions` and the creator's `staging.messages`; `publish_marts`
makes their marts current with the run's others.
"""

import time

import dagster as dg

from ofhq_pipeline.chatters.models import (
    KPI_MARTS,
    AttributionSummary,
    attribution_summary,
    chatter_session,
    write_kpi_marts,
)
from ofhq_pipeline.chatters.qa import TABLE as QA_TABLE
from ofhq_pipeline.chatters.qa import review_creator
from ofhq_pipeline.chatters.qa_llm import LLMReviewer
from ofhq_pipeline.chatters.qa_rules import RulesReviewer
from ofhq_pipeline.chatters.shifts import ShiftSet, load_creator_shifts
from ofhq_pipeline.defs.marts.checks import creator_check_spec
from ofhq_pipeline.defs.models import asset_attributes, asset_key, spec, written_metadata
from ofhq_pipeline.defs.partitions import creator_partitions
from ofhq_pipeline.realtime.landing import landing_url_from_env
from ofhq_pipeline.resources.chatters import ChattersResource
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.landing import LandingResource
from ofhq_pipeline.resources.openai_classifier import OpenAIClassifierResource
from ofhq_pipeline.resources.sync_settings import SyncSettings
from ofhq_pipeline.run_start import is_realtime

DAILY_KEY = asset_key("marts/chatter_performance_daily")
QA_KEY = asset_key(f"marts/{QA_TABLE}")

SHIFTS_VALID = "shift_sources_valid"
NO_OVERLAPS = "no_overlapping_shifts"
MESSAGES_IN_SHIFTS = "creator_messages_in_shifts"


def creator_shifts(
    creator_id: str, chatters: ChattersResource, landing: LandingResource
) -> ShiftSet:
    path, required = chatters.shift_file()
    return load_creator_shifts(
        creator_id, file=path, file_required=required,
        landing_url=landing.url or landing_url_from_env(),
        use_landing=chatters.use_landing_shifts,
    )


@dg.multi_asset(
    specs=[spec(f"marts/{table}") for table in KPI_MARTS],
    check_specs=[
        creator_check_spec(SHIFTS_VALID, DAILY_KEY,
                           "Every shift entry of the file and the landing store is valid (known "
                           "fields, instants, end after start)."),
        creator_check_spec(NO_OVERLAPS, DAILY_KEY,
                           "No two chatters are on shift for the creator at once."),
        creator_check_spec(MESSAGES_IN_SHIFTS, DAILY_KEY,
                           "Every personal creator message falls in a shift (without any shift "
                           "for the creator: could not judge, a warning)."),
    ],
    partitions_def=creator_partitions,
    name="chatter_performance",
)
def chatter_performance(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    sync: SyncSettings,
    landing: LandingResource,
    chatters: ChattersResource,
):
    started = time.perf_counter()
    store = lake.lake()
    creator_id = context.partition_key
    as_of = sync.resolve_as_of(context)
    shift_set = creator_shifts(creator_id, chatters, landing)
    with chatter_session(store, creator_id, shift_set, as_of=as_of, run_id=context.run_id,
                         settings=chatters.kpi_settings()) as con:
        written = write_kpi_marts(store, con, creator_id, context.run_id)
        summary = attribution_summary(con, written["chatter_shift_issues"][0])
        written_meta = {table: written_metadata(f"marts/{table}", path, rows, as_of, con=con)
                        for table, (path, rows) in written.items()}
    share = summary.attributed_share
    seconds = round(time.perf_counter() - started, 3)
    context.log.info(
        f"{creator_id}: {summary.shifts} shifts; {summary.attributed}/{summary.creator_messages} "
        f"creator messages attributed, {summary.in_gaps} in gaps, {summary.in_overlaps} in "
        f"overlaps; {summary.invalid_shifts} invalid shift entries"
    )
    for table, metadata in written_meta.items():
        if table == "chatter_performance_daily":
            metadata.update({
                "shifts": summary.shifts,
                "shift_sources": ", ".join(shift_set.sources) or "none",
                "creator_messages": summary.creator_messages,
                "attributed_messages": summary.attributed,
                "attributed_share": round(share, 4) if share is not None else None,
                "messages_in_gaps": summary.in_gaps,
                "messages_in_overlaps": summary.in_overlaps,
                "ppv_unlocks_unattributed": summary.purchases_unattributed,
                "seconds": seconds,  # the step's, all three marts
            })
        yield dg.MaterializeResult(asset_key=["marts", table], metadata=metadata)
    errors = [f"{s}: {e}" for s, e in shift_set.problems.select("source", "error").iter_rows()]
    yield dg.AssetCheckResult(
        check_name=SHIFTS_VALID, asset_key=DAILY_KEY, passed=not errors,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"partition": creator_id, "invalid_entries": len(errors),
                  "errors": "\n".join(errors[:20])},
    )
    yield dg.AssetCheckResult(
        check_name=NO_OVERLAPS, asset_key=DAILY_KEY, passed=summary.overlaps == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"partition": creator_id, "overlaps": summary.overlaps,
                  "messages_in_overlaps": summary.in_overlaps,
                  "self_overlaps": summary.self_overlaps,
                  "see": "marts.chatter_shift_issues (kind = 'overlap')"},
    )
    yield messages_in_shifts_result(creator_id, summary, shift_set)


def messages_in_shifts_result(
    creator_id: str, summary: AttributionSummary, shift_set: ShiftSet
) -> dg.AssetCheckResult:
    """Whether every personal creator message falls in a shift. Without any shift for the
    creator there is nothing to judge against: that is no pass (the KPI marts stay empty and every
    message is unattributed), so it fails as a warning saying no shifts were configured."""
    metadata = {"partition": creator_id, "shifts": summary.shifts, "gaps": summary.gaps,
                "creator_messages": summary.creator_messages,
                "messages_in_gaps": summary.in_gaps,
                "ppv_unlocks_unattributed": summary.purchases_unattributed,
                "shift_sources": ", ".join(shift_set.sources) or "none",
                "see": "marts.chatter_shift_issues (kind = 'gap')"}
    if summary.shifts == 0:
        reason = (f"no shifts configured for {creator_id} (shift sources: "
                  f"{metadata['shift_sources']}): {summary.creator_messages} creator messages "
                  "attributed to no chatter")
        return dg.AssetCheckResult(
            check_name=MESSAGES_IN_SHIFTS, asset_key=DAILY_KEY, passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={**metadata, "could_not_judge": reason},
            description=f"could not judge: {reason}",
        )
    return dg.AssetCheckResult(
        check_name=MESSAGES_IN_SHIFTS, asset_key=DAILY_KEY, passed=summary.in_gaps == 0,
        severity=dg.AssetCheckSeverity.WARN, metadata=metadata,
    )


@dg.asset(**asset_attributes(f"marts/{QA_TABLE}"))
def chat_qa_reviews(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    sync: SyncSettings,
    landing: LandingResource,
    chatters: ChattersResource,
    classifier: OpenAIClassifierResource,
) -> dg.MaterializeResult:
    started = time.perf_counter()
    store = lake.lake()
    creator_id = context.partition_key
    as_of = sync.resolve_as_of(context)
    realtime = is_realtime(context.run.tags)
    settings = classifier.llm_settings()
    reviewer = LLMReviewer(settings) if settings and not realtime else RulesReviewer()
    try:
        report = review_creator(
            store, creator_id, creator_shifts(creator_id, chatters, landing), reviewer,
            as_of=as_of, run_id=context.run_id, settings=chatters.qa_settings(),
            kpi=chatters.kpi_settings(), review=not realtime,
        )
    finally:
        reviewer.close()
    context.log.info(
        f"{creator_id}: {report.sampled} conversations sampled ({report.first_day} to "
        f"{report.last_day}), {report.reviewed} reviewed, {report.failed} failed, "
        f"{report.skipped_reviewed} already reviewed, {report.pending_budget} pending (budget); "
        f"{report.tokens} tokens, ${report.cost_usd:.4f} ({report.model})"
        + (" [real-time run: nothing sent]" if realtime else "")
    )
    if report.stop_reason:
        context.log.warning(f"{creator_id}: stopped sending: {report.stop_reason}")
    return dg.MaterializeResult(metadata={
        **report.metadata(),
        "realtime_run": realtime,
        "as_of": dg.MetadataValue.timestamp(as_of),
        "path": dg.MetadataValue.path(str(store.mart_path(QA_TABLE, creator_id, context.run_id))),
        "seconds": round(time.perf_counter() - started, 3),
    })


chatter_assets = [chatter_performance, chat_qa_reviews]
