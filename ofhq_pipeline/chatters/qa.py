"""Conversation QA for one creator: sample → review (LLM, or `qa-rules-v1` without a key) → keep.

Sample: per chatter and UTC day, `sample_size` conversations (sql/chatters/qa_sample.sql),
favouring those with a purchase, then fans at risk (last purchase more than `at_risk_days` old),
then a fixed pseudo-random pick; days are the `lookback_days` completed UTC days before as-of
(today too with `include_today`).

Never twice: a conversation is identified by (chatter, fan, day, hash of its message ids). One
already reviewed by the same model is not sent again, nor is one an LLM reviewed when only the
rules scorer is available; one that failed `max_failed_attempts` times with a model waits until
its messages change. An LLM review supersedes a rules one when a key is configured later.

State, rewritten atomically under a per-creator lock:

    lake/chatters/chat_qa_reviews/<creator>.parquet   every review, ok or failed, with its cost

The mart `chat_qa_reviews` (into the run's folder, published with the run's other marts) holds
one row per conversation: its best review (ok before failed, an LLM's before the rules', then the
latest).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl

from ofhq_pipeline.chatters.conversations import (
    DEFAULT_MAX_MESSAGES,
    FAILED,
    OK,
    Conversation,
    Review,
    ReviewOutcome,
    build_conversations,
)
from ofhq_pipeline.chatters.models import KpiSettings, chatter_session
from ofhq_pipeline.chatters.qa_llm import LLMReviewer
from ofhq_pipeline.chatters.qa_rules import RULES_MODEL, RulesReviewer
from ofhq_pipeline.chatters.shifts import ShiftSet
from ofhq_pipeline.intelligence.store import file_lock
from ofhq_pipeline.intelligence.windows import with_names
from ofhq_pipeline.lake import Lake, atomic_write, sql_text
from ofhq_pipeline.llm.chat import Budget
from ofhq_pipeline.llm.tally import StepReport

TABLE = "chat_qa_reviews"
TS = pl.Datetime("us", "UTC")
BREACH = pl.Struct({"type": pl.String, "message_id": pl.Int64})
REVIEWS = {
    "creator_id": pl.String, "chatter": pl.String, "fan_id": pl.Int64, "day": pl.Date,
    "score": pl.Int64, "tone_match": pl.Int64, "offer_pacing": pl.Int64, "pushiness": pl.Int64,
    "reasons": pl.List(pl.String), "missed_signal_message_ids": pl.List(pl.Int64),
    "policy_breaches": pl.List(BREACH), "message_ids": pl.List(pl.Int64),
    "message_ids_hash": pl.String, "message_count": pl.Int64, "sample_reason": pl.String,
    "fan_tone_preference": pl.String, "model": pl.String, "method": pl.String,
    "status": pl.String, "error": pl.String, "attempts": pl.Int64, "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64, "cached_tokens": pl.Int64, "cost_usd": pl.Float64,
    "reviewed_at": TS,
}
KEY = ["chatter", "fan_id", "day", "message_ids_hash"]
QA_MODELS = ("shift_segments", "message_attribution", "purchase_attribution")
REASON_ORDER = {"purchase": 0, "at_risk": 1, "random": 2}


@dataclass(frozen=True)
class QASettings:
    sample_size: int = 3  # conversations per chatter and day
    lookback_days: int = 7  # completed UTC days before as-of to sample
    include_today: bool = False  # also as-of's own (unfinished) day
    at_risk_days: int = 30
    max_messages: int = DEFAULT_MAX_MESSAGES  # per conversation, the latest kept
    max_reviews_per_run: int | None = 500
    max_usd_per_run: float | None = 1.0
    max_failed_attempts: int = 2

    def days(self, as_of: datetime) -> tuple[date, date]:
        last = as_of.astimezone(UTC).date() - (timedelta(0) if self.include_today
                                               else timedelta(days=1))
        return last - timedelta(days=max(1, self.lookback_days) - 1), last


@dataclass
class QAReport(StepReport):
    sampled: int = 0
    reviewed: int = 0
    skipped_reviewed: int = 0
    first_day: str = ""
    last_day: str = ""
    sample_reasons: dict[str, int] = field(default_factory=dict)
    mart_rows: int = 0

    def metadata(self) -> dict:
        """For the materialization: counts, tokens, dollars; never a secret or a text."""
        data = asdict(self)
        data["sample_reasons"] = json.dumps(self.sample_reasons, sort_keys=True)
        data["dagster/row_count"] = data.pop("mart_rows")
        return {**data, **self.spend_metadata(), "errors": json.dumps(self.errors[:5])}


# ---- state ----------------------------------------------------------------------------------
def state_path(lake: Lake, creator_id: str) -> Path:
    return lake.root / "chatters" / TABLE / f"{creator_id}.parquet"


def creator_lock(lake: Lake, creator_id: str) -> AbstractContextManager[None]:
    return file_lock(lake.root / "chatters" / "locks" / f"{creator_id}.lock")


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select([pl.col(c).cast(t) for c, t in REVIEWS.items()])


def load_reviews(lake: Lake, creator_id: str) -> pl.DataFrame:
    path = state_path(lake, creator_id)
    return conform(pl.read_parquet(path)) if path.exists() else pl.DataFrame(schema=REVIEWS)


def save_reviews(lake: Lake, creator_id: str, frame: pl.DataFrame) -> None:
    data = conform(frame)
    atomic_write(state_path(lake, creator_id),
                 lambda tmp: data.write_parquet(tmp, compression="zstd"))


def review_rows(reviews: list[Review]) -> pl.DataFrame:
    rows = []
    for r in reviews:
        c, o = r.conversation, r.output
        rows.append({
            "creator_id": c.creator_id, "chatter": c.chatter, "fan_id": c.fan_id, "day": c.day,
            "score": o.score if o else None, "tone_match": o.tone_match if o else None,
            "offer_pacing": o.offer_pacing if o else None,
            "pushiness": o.pushiness if o else None,
            "reasons": list(o.reasons) if o else [],
            "missed_signal_message_ids": list(o.missed_buying_signals) if o else [],
            "policy_breaches": [b.model_dump() for b in o.policy_breaches] if o else [],
            "message_ids": c.message_ids, "message_ids_hash": c.message_ids_hash,
            "message_count": len(c.lines), "sample_reason": c.sample_reason,
            "fan_tone_preference": c.tone_preference, "model": r.model, "method": r.method,
            "status": r.status, "error": r.error, "attempts": r.attempts,
            "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
            "cached_tokens": r.cached_tokens, "cost_usd": r.cost_usd,
            "reviewed_at": r.reviewed_at,
        })
    return pl.DataFrame(rows, schema=REVIEWS)


def mart_frame(history: pl.DataFrame) -> pl.DataFrame:
    """One row per conversation: ok before failed, an LLM's before the rules', the latest."""
    return (
        history.with_columns(
            _ok=(pl.col("status") != OK).cast(pl.Int8),
            _rules=(pl.col("model") == RULES_MODEL).cast(pl.Int8),
        )
        .sort(["_ok", "_rules", "reviewed_at"], descending=[False, False, True])
        .unique(KEY, keep="first", maintain_order=True)
        .drop("_ok", "_rules")
        .sort("day", "chatter", "fan_id", "message_ids_hash")
    )


# ---- what to send ---------------------------------------------------------------------------
def plan(
    conversations: list[Conversation], history: pl.DataFrame, *, model: str,
    max_failed_attempts: int,
) -> tuple[list[Conversation], int, int]:
    """(to review, in budget priority order; already reviewed; failed too often)."""
    done: set[tuple] = set()
    failures: dict[tuple, int] = {}
    for row in history.select(*KEY, "model", "status").iter_rows(named=True):
        key = (row["chatter"], row["fan_id"], row["day"], row["message_ids_hash"])
        if row["status"] == OK and (row["model"] == model
                                    or (model == RULES_MODEL and row["model"] != RULES_MODEL)):
            done.add(key)
        elif row["status"] == FAILED and row["model"] == model:
            failures[key] = failures.get(key, 0) + 1
    send, reviewed, failed = [], 0, 0
    for c in conversations:
        if c.key in done:
            reviewed += 1
        elif failures.get(c.key, 0) >= max_failed_attempts:
            failed += 1
        else:
            send.append(c)
    send.sort(key=lambda c: (REASON_ORDER.get(c.sample_reason, 9), -c.day.toordinal(),
                             c.chatter, c.fan_id))
    return send, reviewed, failed


def sample_conversations(
    lake: Lake, creator_id: str, shift_set: ShiftSet, *, as_of: datetime,
    run_id: str | None, settings: QASettings, kpi: KpiSettings | None = None,
) -> list[Conversation]:
    first, last = settings.days(as_of)
    # only the sampled days' messages (and the half hour before, for tips) need attributing
    since = datetime.combine(first, time.min, UTC) - timedelta(days=1)
    with chatter_session(lake, creator_id, shift_set, as_of=as_of, run_id=run_id,
                         settings=kpi or KpiSettings(), since=since,
                         models=QA_MODELS) as con:
        for name, value in (("qa_first_day", first.isoformat()), ("qa_last_day", last.isoformat()),
                            ("qa_sample_size", settings.sample_size),
                            ("qa_at_risk_days", settings.at_risk_days)):
            con.execute(f"SET VARIABLE {name} = ?", [value])
        con.execute(f"CREATE TABLE chatters.qa_sample AS {sql_text('chatters/qa_sample')}")
        sample = con.sql("SELECT * FROM chatters.qa_sample").pl()
        messages = with_names(con.sql(sql_text("chatters/qa_messages")).pl(),
                              con.sql(sql_text("marts/fan_classifications/fan_names")).pl())
        purchases = con.sql(sql_text("chatters/qa_purchases")).pl()
        tones = con.sql(sql_text("chatters/qa_fan_tone")).pl()
    return build_conversations(creator_id, sample, messages, purchases, tones,
                               max_messages=settings.max_messages)


def run_reviewer(
    reviewer: LLMReviewer | RulesReviewer, conversations: list[Conversation],
    settings: QASettings, now: Callable[[], datetime],
) -> ReviewOutcome:
    if isinstance(reviewer, LLMReviewer):
        budget = Budget(settings.max_reviews_per_run, settings.max_usd_per_run)
        return reviewer.review(conversations, budget=budget, now=now)
    return reviewer.review(conversations, now=now)


def review_creator(
    lake: Lake,
    creator_id: str,
    shift_set: ShiftSet,
    reviewer: LLMReviewer | RulesReviewer,
    *,
    as_of: datetime,
    run_id: str | None = None,
    settings: QASettings = QASettings(),
    kpi: KpiSettings | None = None,
    review: bool = True,
    now: Callable[[], datetime] | None = None,
) -> QAReport:
    """Sample and review the creator's conversations (unless `review` is False, as in real-time
    runs), keep the reviews, and write the mart into `run_id`'s folder."""
    clock = now or (lambda: as_of)  # one clock: a review is dated at its run's as-of
    report = QAReport(creator_id, reviewer.model, reviewer.method)
    first, last = settings.days(as_of)
    report.first_day, report.last_day = first.isoformat(), last.isoformat()
    with creator_lock(lake, creator_id):
        history = load_reviews(lake, creator_id)
        if review:
            conversations = sample_conversations(
                lake, creator_id, shift_set, as_of=as_of, run_id=run_id, settings=settings,
                kpi=kpi)
            report.sampled = len(conversations)
            for c in conversations:
                report.sample_reasons[c.sample_reason] = report.sample_reasons.get(
                    c.sample_reason, 0) + 1
            send, report.skipped_reviewed, report.skipped_failed = plan(
                conversations, history, model=reviewer.model,
                max_failed_attempts=settings.max_failed_attempts)
            outcome = run_reviewer(reviewer, send, settings, clock)
            if outcome.reviews:
                history = pl.concat([history, review_rows(outcome.reviews)])
                save_reviews(lake, creator_id, history)
            record(report, outcome)
        if run_id is not None:
            mart = mart_frame(history)
            path = lake.mart_path(TABLE, creator_id, run_id)
            atomic_write(path, lambda tmp: mart.write_parquet(tmp, compression="zstd"))
            report.mart_rows = mart.height
    return report


def record(report: QAReport, outcome: ReviewOutcome) -> None:
    report.reviewed += report.record(
        outcome.reviews, len(outcome.pending), outcome.stop_reason,
        lambda r: f"{r.conversation.chatter}/{r.conversation.fan_id}/{r.conversation.day}")
