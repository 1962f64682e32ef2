"""One creator's classification pass: windows → which fans to send → classify → state → marts.

Only fans whose window changed since their last successful classification by the same model are
sent (an unchanged window is never sent twice). A fan is also held back when:
- none of the window's messages is his own (nothing to learn about him),
- the same window already failed `max_failed_attempts` times with this model (until it changes),
- a Batch API job not yet applied covers him,
- `debounce` is set (real-time runs) and he was classified less than `debounce` ago: a burst of
  `messages.received` events then costs one classification, not one per message; the next run
  after the interval picks the fan up.

Time is the run's clock: every instant a pass records (`classified_at`, and through it the facts'
first/last seen and the intents' `detected_at`) is `now()`, which defaults to `as_of`, so the
same inputs and as-of give the same tables. The debounce compares those recorded instants with
the same clock: with as-of the run's start (nothing pinned) it measures real time between runs;
with a pinned as-of every run is the same instant, and a real-time run holds back a fan already
classified at it (a later as-of, or a run without debounce, takes him).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import polars as pl

from ofhq_pipeline.intelligence.llm import LLMClassifier
from ofhq_pipeline.intelligence.results import FAILED, Outcome
from ofhq_pipeline.intelligence.rules import RulesClassifier
from ofhq_pipeline.intelligence.store import (
    apply_results,
    creator_lock,
    latest_ok,
    load,
    previous_summaries,
    state_dir,
    write_due,
    write_marts,
)
from ofhq_pipeline.intelligence.windows import WindowConfig, Windows, build_windows, read_inputs
from ofhq_pipeline.lake import Lake
from ofhq_pipeline.llm.tally import StepReport

SEND = "send"
UNCHANGED = "unchanged"
SILENT = "silent"
FAILED_BEFORE = "failed_before"
IN_BATCH = "in_batch"
DEBOUNCED = "debounced"


@dataclass
class RunReport(StepReport):
    fans: int = 0
    classified: int = 0
    skipped_unchanged: int = 0
    debounced: int = 0
    in_batch: int = 0
    silent: int = 0
    mart_rows: dict[str, int] = field(default_factory=dict)

    def metadata(self) -> dict:
        """For the asset's materialization: counts, tokens, dollars; never a secret."""
        data = asdict(self)
        data.pop("mart_rows")
        return {**data, **self.spend_metadata(), "errors": json.dumps(self.errors[:5])}


def plan(
    windows: Windows,
    history: pl.DataFrame,
    *,
    model: str,
    now: datetime,
    debounce: timedelta = timedelta(0),
    max_failed_attempts: int = 2,
    exclude: set[int] | None = None,
) -> pl.DataFrame:
    """(fan_id, decision, last_at, last_classified): one decision per fan with a window; `send`
    rows come first, the most recently active fans first (they are what the budget spends on)."""
    same = history.filter(pl.col("model") == model)
    last_ok = latest_ok(same).select("fan_id", ok_hash="window_hash")
    failures = (
        same.filter(pl.col("status") == FAILED)
        .group_by("fan_id", "window_hash")
        .agg(n_failed=pl.len().cast(pl.Int64))
    )
    last_any = same.group_by("fan_id").agg(last_classified=pl.col("classified_at").max())
    fans = (
        windows.fans.select(
            "fan_id", "window_hash", "fan_message_count",
            last_at=pl.col("message_times").list.max(),
        )
        .join(last_ok, on="fan_id", how="left")
        .join(failures, on=["fan_id", "window_hash"], how="left")
        .join(last_any, on="fan_id", how="left")
        .with_columns(pl.col("n_failed").fill_null(0))
    )
    excluded = pl.col("fan_id").is_in(sorted(exclude or ()))
    decision = (
        pl.when(pl.col("fan_message_count") == 0).then(pl.lit(SILENT))
        .when(pl.col("ok_hash") == pl.col("window_hash")).then(pl.lit(UNCHANGED))
        .when(excluded).then(pl.lit(IN_BATCH))
        .when(pl.col("n_failed") >= max_failed_attempts).then(pl.lit(FAILED_BEFORE))
        .when(pl.col("last_classified") > pl.lit(now - debounce)).then(pl.lit(DEBOUNCED))
        .otherwise(pl.lit(SEND))
    )
    return (
        fans.with_columns(decision=decision)
        .with_columns(order=(pl.col("decision") != SEND).cast(pl.Int8))
        .sort(["order", "last_at", "fan_id"], descending=[False, True, False])
        .select("fan_id", "decision", "last_at", "last_classified")
    )


def pending_batch_fans(lake: Lake, creator_id: str) -> set[int]:
    """Fans covered by Batch API jobs of this creator that are not applied yet."""
    fans: set[int] = set()
    for path in sorted((state_dir(lake) / "batches" / creator_id).glob("*.json")):
        state = json.loads(path.read_text())
        fans.update(int(item["fan_id"]) for item in state.get("items", {}).values())
    return fans


def run_classifier(
    classifier, windows: Windows, fan_ids: list[int], history: pl.DataFrame, *,
    unlimited: bool, now: Callable[[], datetime],
) -> Outcome:
    if isinstance(classifier, RulesClassifier):
        return classifier.classify_windows(windows, fan_ids, now=now)
    if isinstance(classifier, LLMClassifier):
        by_fan = {w.fan_id: w for w in windows.get(fan_ids)}
        ordered = [by_fan[f] for f in fan_ids if f in by_fan]
        return classifier.classify(
            ordered, previous_summaries(history, fan_ids),
            budget=classifier.new_budget(unlimited=unlimited), now=now,
        )
    raise TypeError(f"not a classifier: {type(classifier).__name__}")


def classify_creator(
    lake: Lake,
    creator_id: str,
    classifier: LLMClassifier | RulesClassifier,
    *,
    as_of: datetime,
    run_id: str | None = None,
    now: Callable[[], datetime] | None = None,
    debounce: timedelta = timedelta(0),
    window_config: WindowConfig | None = None,
    intent_threshold: int = 50,
    max_failed_attempts: int = 2,
    unlimited: bool = False,
) -> RunReport:
    """Classify the creator's changed fans and write the marts into `run_id`'s folder.

    `now` is the clock the pass records with; it defaults to `as_of` (see the module's doc)."""
    clock = now or (lambda: as_of)
    report = RunReport(creator_id, classifier.model, classifier.method)
    with creator_lock(lake, creator_id):
        messages, purchases = read_inputs(lake, creator_id, as_of=as_of, run_id=run_id)
        windows = build_windows(messages, purchases, window_config or WindowConfig())
        history = load(lake, "fan_classifications", creator_id)
        decisions = plan(
            windows, history, model=classifier.model, now=clock(), debounce=debounce,
            max_failed_attempts=max_failed_attempts, exclude=pending_batch_fans(lake, creator_id),
        )
        counts = dict(decisions.group_by("decision").len().iter_rows())
        report.fans = decisions.height
        report.skipped_unchanged = counts.get(UNCHANGED, 0)
        report.silent = counts.get(SILENT, 0)
        report.skipped_failed = counts.get(FAILED_BEFORE, 0)
        report.in_batch = counts.get(IN_BATCH, 0)
        report.debounced = counts.get(DEBOUNCED, 0)
        to_send = decisions.filter(pl.col("decision") == SEND)["fan_id"].to_list()
        held = decisions.filter(pl.col("decision") == DEBOUNCED)
        write_due(lake, creator_id,
                  held["last_classified"].min() + debounce if held.height else None,
                  held["fan_id"].to_list())
        outcome = run_classifier(
            classifier, windows, to_send, history, unlimited=unlimited, now=clock
        )
        apply_results(lake, creator_id, outcome.results, intent_threshold=intent_threshold)
        if run_id is not None:
            report.mart_rows = write_marts(lake, creator_id, run_id)
    record(report, outcome)
    return report


def record(report: RunReport, outcome: Outcome) -> None:
    report.classified += report.record(outcome.results, len(outcome.pending), outcome.stop_reason,
                                       lambda r: f"fan {r.fan_id}")
