"""The fan classifier's cost: tokens and dollars per classification over the demo agency's chats.

The demo agency (`generate_agency(seed=7, scale=1.0)`) is written as staged messages and a
transactions mart per creator; every creator is classified through the real pipeline code and
the real `openai` client against a local OpenAI-compatible server that answers a valid
classification of realistic size and reports usage estimated from each actual request (prompt:
characters / 4; answer: characters / 3; OpenAI's automatic caching of a shared prefix of 1,024
tokens or more, billed at half). Printed, against the $0.0005 anchor: the live path at
gpt-4o-mini prices, the Batch API path (files + batches, half price), and the requests made for
unchanged chats on a second run.

    .venv/bin/python -m bench.classifier
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import polars as pl

from ofhq_pipeline.intelligence.batch import BatchRunner
from ofhq_pipeline.intelligence.engine import classify_creator
from ofhq_pipeline.intelligence.llm import LLMClassifier
from ofhq_pipeline.intelligence.store import load
from ofhq_pipeline.lake import Lake, atomic_write
from ofhq_pipeline.llm.chat import LLMSettings
from ofhq_pipeline.settings import Paths
from ofhq_pipeline.source.simulator import generate_agency
from ofhq_pipeline_tests.intelligence.fake_openai import FakeOpenAI
from ofhq_pipeline_tests.servers import serve_app

ANCHOR_USD = 0.0005
KEY = "sk-bench-not-a-real-key"


def write_agency(lake: Lake, agency) -> list[str]:
    """Each creator's messages as `staging.messages` and purchases as `marts.transactions`."""
    messages = agency.messages.select(
        "creator_id", "fan_id", pl.col("id").alias("message_id"),
        is_from_fan=pl.col("from_user_id") == pl.col("fan_id"),
        created_at=pl.col("created_at"), text=pl.col("text"),
        price_cents=(pl.col("price") * 100).round().cast(pl.Int64),
    )
    description = pl.col("description").str.to_lowercase()
    transactions = agency.transactions.select(
        "creator_id", "fan_id", "created_at",
        type=pl.when(description.str.contains("tip")).then(pl.lit("tip"))
        .when(description.str.contains("message")).then(pl.lit("message"))
        .otherwise(pl.lit("other")),
        is_purchase=pl.col("status").is_in(["done", "succeeded", "completed"])
        & (pl.col("amount") > 0)
        & (pl.col("chargeback_at").is_null() | (pl.col("chargeback_at") > agency.end)),
    )
    creators = sorted(messages["creator_id"].unique().to_list())
    for creator in creators:
        staged = messages.filter(pl.col("creator_id") == creator)
        atomic_write(lake.staging_path("messages", creator), staged.write_parquet)
        mart = transactions.filter(pl.col("creator_id") == creator)
        atomic_write(lake.mart_path("transactions", creator, "bench"), mart.write_parquet)
        lake.commit_marts(creator, "bench")
    return creators


def per_classification(lake: Lake, creators: list[str]) -> pl.DataFrame:
    frames = [load(lake, "fan_classifications", c) for c in creators]
    return pl.concat(frames).filter(pl.col("status") == "ok")


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1] if len(values) > 1 else values[0]


def main() -> None:
    agency = generate_agency(seed=7, scale=1.0)
    fake = FakeOpenAI()
    with tempfile.TemporaryDirectory() as tmp, serve_app(fake.app()) as url:
        live_lake = Lake(Paths(Path(tmp) / "live", Path(tmp) / "w.duckdb", Path(tmp) / "m.duckdb"))
        batch_lake = Lake(Paths(Path(tmp) / "batch", Path(tmp) / "w2.duckdb", Path(tmp) / "m2.duckdb"))
        creators = write_agency(live_lake, agency)
        write_agency(batch_lake, agency)
        settings = LLMSettings(api_key=KEY, base_url=f"{url}/v1", max_usd=None,
                               max_classifications=None)
        print(f"== fan classifier over the demo agency (seed 7, scale 1.0): {len(creators)} "
              f"creators, {agency.messages.height:,} messages")

        # live path, twice
        classifier = LLMClassifier(settings)
        start = time.perf_counter()
        first = [classify_creator(live_lake, c, classifier, as_of=agency.end) for c in creators]
        live_s = time.perf_counter() - start
        requests_first = len(fake.chat_requests)
        second = [classify_creator(live_lake, c, classifier, as_of=agency.end) for c in creators]
        requests_unchanged = len(fake.chat_requests) - requests_first
        classifier.close()

        rows = per_classification(live_lake, creators)
        usd = rows["cost_usd"].to_list()
        prompt, completion = rows["prompt_tokens"].to_list(), rows["completion_tokens"].to_list()
        messages = rows["message_count"].to_list()
        print(f"windows: {len(rows):,} fans with words of their own; median "
              f"{statistics.median(messages):.0f} messages a window, p95 {quantile(messages, .95):.0f}")
        print(f"live (gpt-4o-mini, $0.15 / $0.60 per M tokens): {sum(r.classified for r in first):,} "
              f"classifications in {live_s:.1f} s at concurrency {settings.concurrency}, "
              f"{sum(r.failed for r in first)} failed")
        print(f"  tokens per classification: {statistics.mean(prompt):,.0f} prompt + "
              f"{statistics.mean(completion):,.0f} completion (median "
              f"{statistics.median(prompt):,.0f} + {statistics.median(completion):,.0f}, p95 prompt "
              f"{quantile(prompt, .95):,.0f})")
        print(f"  $ per classification: mean ${statistics.mean(usd):.6f}, median "
              f"${statistics.median(usd):.6f}, p95 ${quantile(usd, .95):.6f}; anchor "
              f"${ANCHOR_USD:.4f}: mean at {statistics.mean(usd) / ANCHOR_USD:.0%} of it, "
              f"{sum(u <= ANCHOR_USD for u in usd) / len(usd):.0%} of chats under it")
        cached = rows["cached_tokens"].to_list()
        uncached = [(p * 0.15 + c * 0.60) / 1e6 for p, c in zip(prompt, completion, strict=True)]
        print(f"  of which the shared prefix (schema + system prompt) served from OpenAI's prompt "
              f"cache: {statistics.mean(cached):,.0f} tokens a request, billed at half")
        print(f"  without prompt caching: mean ${statistics.mean(uncached):.6f}, median "
              f"${statistics.median(uncached):.6f} per classification")
        print(f"  agency total: ${sum(usd):.4f}")

        # Batch API path: upload, create, poll, apply
        start = time.perf_counter()
        runner = BatchRunner(batch_lake, settings, poll_interval=0.01)
        batch_reports = [runner.run(c, as_of=agency.end) for c in creators]
        batch_s = time.perf_counter() - start
        uploads = len(fake.batches)
        rerun = [runner.run(c, as_of=agency.end) for c in creators]
        runner.close()
        batch_rows = per_classification(batch_lake, creators)
        batch_usd = batch_rows["cost_usd"].to_list()
        print(f"batch API (half price): {sum(r.classified for r in batch_reports):,} classifications "
              f"in {uploads} batches ({batch_s:.1f} s); $ per classification: mean "
              f"${statistics.mean(batch_usd):.6f}, median ${statistics.median(batch_usd):.6f}; "
              f"agency total ${sum(batch_usd):.4f}")
        print(f"requests for unchanged chats: {requests_unchanged} live "
              f"({sum(r.skipped_unchanged for r in second):,} skipped as unchanged), "
              f"{len(fake.batches) - uploads} new batches "
              f"({sum(r.skipped_unchanged for r in rerun):,} skipped)")


if __name__ == "__main__":
    main()
