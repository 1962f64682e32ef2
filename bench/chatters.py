"""Chatter KPIs and conversation QA at scale, on one creator's synthetic lake.

Writes `staging.messages` (BENCH_CHATTER_MESSAGES, default 3M, over 90 days and 2k fans) and a
`marts.transactions` (a tenth as many purchases) straight to Parquet, and 3 chatters in rotating
8-hour shifts (with a few overlaps and missing shifts). Prints the wall time and peak memory of
the attribution and the three KPI marts (the real SQL models, through `chatter_session`), of QA
sampling plus the rules scorer over 7 days, and the tokens and dollars per LLM review through the
real `openai` client against the local OpenAI-compatible server (usage estimated from each actual
request, as in bench.classifier).

    .venv/bin/python -m bench.chatters
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from ofhq_pipeline.chatters.models import chatter_session, write_kpi_marts
from ofhq_pipeline.chatters.qa import QASettings, review_creator, sample_conversations
from ofhq_pipeline.chatters.qa_llm import LLMReviewer
from ofhq_pipeline.chatters.qa_rules import RulesReviewer
from ofhq_pipeline.chatters.shifts import Shift, ShiftSet, problem_frame, shift_frame
from ofhq_pipeline.lake import Lake, quote
from ofhq_pipeline.llm.chat import LLMSettings
from ofhq_pipeline.settings import Paths
from ofhq_pipeline_tests.intelligence.fake_openai import FakeOpenAI, completion
from ofhq_pipeline_tests.servers import serve_app

CREATOR = "acct_bench"
START = datetime(2026, 7, 1, tzinfo=UTC)
DAYS = 90
AS_OF = START + timedelta(days=DAYS)
CHATTERS = ("ana", "ben", "cy")
KEY = "sk-bench-not-a-real-key"
TEXTS = [
    "hey you, how was your day?", "haha you're too much", "how much for the beach set?",
    "just got home from work, so tired", "new video just for you, want it?",
    "I miss you, when are you online?", "send it, I'll take it", "good morning handsome",
    "can you do a custom with my name in it?", "that was amazing, more please",
]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_lake(lake: Lake, messages: int) -> None:
    fans = max(500, messages // 1500)  # ~16 messages per fan and day
    texts = "[" + ", ".join("'" + t.replace("'", "''") + "'" for t in TEXTS) + "]"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    staging = lake.staging_path("messages", CREATOR)
    staging.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"""
        COPY (
            SELECT '{CREATOR}' AS creator_id, fan_id, i AS message_id, is_from_fan,
                   TIMESTAMPTZ '{START.isoformat()}' + to_microseconds(
                       CAST(hash(i, 'at') % {DAYS * 86_400_000_000} AS BIGINT)) AS created_at,
                   {texts}[1 + CAST(hash(i, 'text') % {len(TEXTS)} AS INTEGER)] AS text,
                   CASE WHEN NOT is_from_fan AND hash(i, 'ppv') % 12 = 0 THEN 2000 ELSE 0 END
                       AS price_cents,
                   NOT is_from_fan AND hash(i, 'mass') % 20 = 0 AS is_mass_message
            FROM (SELECT i, 1 + CAST(hash(i, 'fan') % {fans} AS BIGINT) AS fan_id,
                         hash(i, 'side') % 100 < 55 AS is_from_fan
                  FROM range({messages}) r(i))
        ) TO {quote(staging)} (FORMAT parquet)
    """)
    run = "bench_inputs"
    mart = lake.mart_path("transactions", CREATOR, run)
    mart.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"""
        COPY (
            SELECT '{CREATOR}' AS creator_id, 't' || i AS transaction_id,
                   1 + CAST(hash(i, 'fan') % {fans} AS BIGINT) AS fan_id,
                   TIMESTAMPTZ '{START.isoformat()}' + to_microseconds(
                       CAST(hash(i, 'at') % {DAYS * 86_400_000_000} AS BIGINT)) AS created_at,
                   ['message', 'message', 'message', 'tip', 'tip', 'subscription']
                       [1 + CAST(hash(i, 'type') % 6 AS INTEGER)] AS type,
                   true AS is_purchase, 1000 + CAST(hash(i, 'amount') % 4000 AS BIGINT)
                       AS amount_cents
            FROM range({messages // 10}) r(i)
        ) TO {quote(mart)} (FORMAT parquet)
    """)
    con.close()
    lake.commit_marts(CREATOR, run)


def rotation() -> ShiftSet:
    shifts = []
    for n in range(DAYS * 3):
        if n % 30 == 29:
            continue  # a missing shift: a gap
        start = START + timedelta(hours=8 * n)
        end = start + timedelta(hours=8, minutes=30 if n % 45 == 0 else 0)  # a few overlaps
        shifts.append(Shift(CREATOR, CHATTERS[n % 3], start, end, "bench"))
    return ShiftSet(shift_frame(shifts), problem_frame([]), ("bench",))


def qa_reply(body: dict, n: int) -> dict:
    lines = body["messages"][1]["content"].splitlines()
    fan = [int(line.split(" ", 1)[0]) for line in lines if " F" in line[:12] and line[0].isdigit()]
    answer = {
        "score": 72, "tone_match": 80, "offer_pacing": 70, "pushiness": 15,
        "missed_buying_signals": fan[:1], "policy_breaches": [],
        "reasons": ["warm openers", "offer came late", "one price question left unanswered"],
    }
    return completion(body, json.dumps(answer, separators=(",", ":")))


def main() -> None:
    messages = int(os.environ.get("BENCH_CHATTER_MESSAGES", "3000000"))
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        lake = Lake(Paths(home=home, warehouse=home / "w.duckdb", analysts_marts=home / "m.duckdb"))
        t = time.perf_counter()
        write_lake(lake, messages)
        print(f"lake: {messages:,} messages, {messages // 10:,} purchases, 90 days "
              f"({time.perf_counter() - t:.1f}s to write)")
        shifts = rotation()

        t = time.perf_counter()
        with chatter_session(lake, CREATOR, shifts, as_of=AS_OF, run_id="bench") as con:
            written = write_kpi_marts(lake, con, CREATOR, "bench")
        kpi_s = time.perf_counter() - t
        counts = ", ".join(f"{table} {rows:,}" for table, (_, rows) in written.items())
        print(f"KPIs (attribution + 3 marts): {kpi_s:.2f}s, peak RSS {peak_mb():,.0f} MB "
              f"[{counts}]")

        settings = QASettings(sample_size=3, lookback_days=7)
        t = time.perf_counter()
        report = review_creator(lake, CREATOR, shifts, RulesReviewer(), as_of=AS_OF,
                                run_id="bench", settings=settings)
        print(f"QA sample + qa-rules-v1 over 7 days: {time.perf_counter() - t:.2f}s, "
              f"{report.reviewed} conversations reviewed")

        conversations = sample_conversations(lake, CREATOR, shifts, as_of=AS_OF, run_id="bench",
                                             settings=settings)
        fake = FakeOpenAI(respond=qa_reply)
        with serve_app(fake.app()) as url:
            reviewer = LLMReviewer(LLMSettings(api_key=KEY, base_url=f"{url}/v1"))
            t = time.perf_counter()
            outcome = reviewer.review(conversations)
            llm_s = time.perf_counter() - t
            reviewer.close()
        reviews = [r for r in outcome.reviews if r.status == "ok"]
        if reviews:
            per = [r.cost_usd or 0.0 for r in reviews]
            tokens = [r.prompt_tokens + r.completion_tokens for r in reviews]
            lines = [len(r.conversation.lines) for r in reviews]
            print(f"LLM reviews (gpt-4o-mini prices, local server): {len(reviews)} in "
                  f"{llm_s:.1f}s; median {statistics.median(lines):.0f} messages, "
                  f"{statistics.median(tokens):,.0f} tokens, "
                  f"${statistics.median(per):.6f} per review "
                  f"(${sum(per):.4f} for the whole sample: {settings.sample_size} per chatter "
                  f"and day, {len(CHATTERS)} chatters, 7 days)")


if __name__ == "__main__":
    main()
