"""`ofhq classify [--backfill] [--batch]`: the classifier alone, outside a sync.

Every creator with staged messages (or those named with --creator) is classified, then its five
intelligence marts are written into a run folder of their own and published with the others.

- default: the live path with the per-run budget (the rules classifier without OPENAI_API_KEY);
- `--backfill`: no per-run budget (max classifications and max USD are lifted);
- `--batch`: through the OpenAI Batch API at half price; an interrupted run (Ctrl-C, a crash,
  `--max-wait` reached) is resumed by running the command again.

The cli adds it with `main.add_command(classify)`; `classify_command` is the same as a function.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

import click

from ofhq_pipeline.intelligence.engine import RunReport, classify_creator
from ofhq_pipeline.intelligence.llm import LLMClassifier
from ofhq_pipeline.intelligence.store import write_marts
from ofhq_pipeline.lake import Lake
from ofhq_pipeline.llm.chat import DEFAULT_MODEL
from ofhq_pipeline.resources.openai_classifier import OpenAIClassifierResource
from ofhq_pipeline.settings import Paths, as_of_from_env


def resource_from_env() -> OpenAIClassifierResource:
    """The resource with plain values from the environment (this process only; never logged)."""
    return OpenAIClassifierResource(
        api_key=os.environ.get("OPENAI_API_KEY") or None,
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        model=os.environ.get("OFHQ_CLASSIFIER_MODEL") or DEFAULT_MODEL,
    )


def known_creators(lake: Lake) -> list[str]:
    return sorted(p.stem for p in (lake.root / "staging" / "messages").glob("*.parquet"))


def classify_command(
    backfill: bool,
    batch: bool,
    *,
    creators: list[str] | None = None,
    lake: Lake | None = None,
    resource: OpenAIClassifierResource | None = None,
    as_of: datetime | None = None,
    poll_interval: float = 30.0,
    max_wait: float | None = None,
    publish_marts: bool = True,
    echo: Callable[[str], None] = print,
) -> list[RunReport]:
    """Classify the creators' changed fans; returns one report per creator."""
    from ofhq_pipeline.intelligence.batch import BatchRunner
    from ofhq_pipeline.warehouse.publish import publish, publish_lock

    lake = lake or Lake(Paths.from_env())
    resource = resource or resource_from_env()
    as_of = as_of or as_of_from_env() or datetime.now(UTC)
    selected = list(creators) if creators else known_creators(lake)
    settings = resource.llm_settings()
    if batch and settings is None:
        raise click.ClickException("--batch needs OPENAI_API_KEY (the Batch API is OpenAI's)")
    run_id = f"classify-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    reports: list[RunReport] = []
    runner = (
        BatchRunner(
            lake, settings, poll_interval=poll_interval, max_wait=max_wait,
            window_config=resource.window_config(), intent_threshold=resource.intent_threshold,
            max_failed_attempts=resource.max_failed_attempts,
        )
        if batch
        else None
    )
    engine = None if batch else resource.classifier()
    try:
        for creator_id in selected:
            if runner is not None:
                report = runner.run(creator_id, as_of=as_of, unlimited=backfill)
            else:
                report = classify_creator(
                    lake, creator_id, engine, as_of=as_of, window_config=resource.window_config(),
                    intent_threshold=resource.intent_threshold,
                    max_failed_attempts=resource.max_failed_attempts, unlimited=backfill,
                )
            if publish_marts:
                report.mart_rows = write_marts(lake, creator_id, run_id)
            reports.append(report)
            echo(describe(report))
    finally:
        if runner is not None:
            runner.close()
        if isinstance(engine, LLMClassifier):
            engine.close()
    if publish_marts and reports:
        with publish_lock(lake):
            for report in reports:
                lake.commit_marts(report.creator_id, run_id)
        publish(lake)
    return reports


def describe(report: RunReport) -> str:
    text = (
        f"{report.creator_id}: {report.classified} classified, {report.failed} failed, "
        f"{report.skipped_unchanged} unchanged, {report.pending_budget} pending (budget), "
        f"{report.in_batch} in a pending batch; {report.tokens} tokens, "
        f"${report.cost_usd:.4f} ({report.model}, {report.method})"
    )
    return text + (f" — {report.stop_reason}" if report.stop_reason else "")


@click.command("classify")
@click.option("--backfill", is_flag=True, help="No per-run budget: classify every changed fan.")
@click.option("--batch", is_flag=True, help="Through the OpenAI Batch API (half price, resumable).")
@click.option("--creator", "creators", multiple=True,
              help="ACCOUNT_ID to classify (repeatable); all by default.")
@click.option("--poll-interval", default=30.0, show_default=True,
              help="Seconds between Batch API status checks.")
@click.option("--max-wait", default=None, type=float,
              help="Stop waiting for a batch after this many seconds (run again to resume).")
def classify(backfill: bool, batch: bool, creators: tuple[str, ...], poll_interval: float,
             max_wait: float | None) -> None:
    """Run the fan classifier alone (the Batch API with --batch)."""
    reports = classify_command(
        backfill, batch, creators=list(creators) or None, poll_interval=poll_interval,
        max_wait=max_wait, echo=click.echo,
    )
    if any(r.failed for r in reports):
        click.echo("some classifications failed; they are retried on the next run", err=True)
