"""Backfills through the OpenAI Batch API, at half the live price, resumable after interruption.

A job for one creator goes through these steps, each recorded in its state file
`lake/intelligence/batches/<creator>/<job>.json` before the next begins (the requests themselves
sit beside it as `<job>.jsonl`):

1. plan: the fans to send (changed windows, within the budget) and, per request, the fan, his
   window hash and the window's message ids (to map the answer's ids back);
2. upload: the JSONL file (`files.create`, purpose "batch") → `input_file_id`;
3. create: `batches.create` on `/v1/chat/completions` → `batch_id`;
4. poll `batches.retrieve` until the batch is completed, failed, expired or cancelled;
5. apply: the output file's answers (and error file's failures) become classifications, dated
   the job's as-of (the instant its windows were read at), however long the batch took.

Interrupted anywhere, the next call resumes the pending job where it stopped instead of starting
a new one: a job with a file but no batch id first looks for a batch already created from that
file (the process may have died right after creating it), then creates one. While a job is
pending, its fans are not sent live either. Answers that are not valid are asked once more live
(as in the live path) and recorded as failed if still invalid.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import openai
import polars as pl

from ofhq_pipeline.intelligence.engine import (
    SEND,
    RunReport,
    pending_batch_fans,
    plan,
    record,
)
from ofhq_pipeline.intelligence.prompt import estimate_prompt_tokens, request_body
from ofhq_pipeline.intelligence.results import Classification, Outcome, classification, read_output
from ofhq_pipeline.intelligence.store import (
    apply_results,
    creator_lock,
    load,
    previous_summaries,
    state_dir,
    write_json,
)
from ofhq_pipeline.intelligence.windows import Window, WindowConfig, build_windows, read_inputs
from ofhq_pipeline.lake import Lake, atomic_write
from ofhq_pipeline.llm.answers import Answered, Usage, read_answer, safe_error
from ofhq_pipeline.llm.chat import Budget, LLMSettings, openai_client, with_correction
from ofhq_pipeline.llm.pricing import DEFAULT_EXPECTED_COMPLETION_TOKENS, cost_usd

ENDPOINT = "/v1/chat/completions"
TERMINAL = ("completed", "failed", "expired", "cancelled")


def jobs_dir(lake: Lake, creator_id: str) -> Path:
    return state_dir(lake) / "batches" / creator_id


@dataclass
class Job:
    path: Path
    state: dict

    @property
    def requests_path(self) -> Path:
        return self.path.with_suffix(".jsonl")

    def save(self) -> None:
        write_json(self.path, self.state)

    def finish(self) -> None:
        self.requests_path.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)


def pending_jobs(lake: Lake, creator_id: str) -> list[Job]:
    return [
        Job(path, json.loads(path.read_text()))
        for path in sorted(jobs_dir(lake, creator_id).glob("*.json"))
    ]


class BatchRunner:
    """Runs and resumes a creator's Batch API jobs with one client."""

    def __init__(
        self,
        lake: Lake,
        settings: LLMSettings,
        *,
        client: openai.OpenAI | None = None,
        poll_interval: float = 30.0,
        max_wait: float | None = None,
        window_config: WindowConfig | None = None,
        intent_threshold: int = 50,
        max_failed_attempts: int = 2,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.lake = lake
        self.settings = settings
        self.client = client or openai_client(settings)
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self.window_config = window_config or WindowConfig()
        self.intent_threshold = intent_threshold
        self.max_failed_attempts = max_failed_attempts
        self.now = now or (lambda: datetime.now(UTC))

    def close(self) -> None:
        self.client.close()

    # ---- the whole flow --------------------------------------------------------------------
    def run(self, creator_id: str, *, as_of: datetime, unlimited: bool = False) -> RunReport:
        """Finish the creator's pending jobs, then submit and finish one for changed fans.

        Returns early (the job stays pending, `stop_reason` says so) when `max_wait` passes.
        """
        report = RunReport(creator_id, self.settings.model, "batch")
        for job in pending_jobs(self.lake, creator_id):
            if not self.finish(job, report):
                return report
        job = self.submit(creator_id, as_of=as_of, unlimited=unlimited, report=report)
        if job is not None:
            self.finish(job, report)
        return report

    def submit(
        self, creator_id: str, *, as_of: datetime, unlimited: bool, report: RunReport
    ) -> Job | None:
        """Plan, write the job's state and requests, upload, create the batch."""
        with creator_lock(self.lake, creator_id):
            messages, purchases = read_inputs(self.lake, creator_id, as_of=as_of)
            windows = build_windows(messages, purchases, self.window_config)
            history = load(self.lake, "fan_classifications", creator_id)
            decisions = plan(
                windows, history, model=self.settings.model, now=as_of,
                max_failed_attempts=self.max_failed_attempts,
                exclude=pending_batch_fans(self.lake, creator_id),
            )
            counts = dict(decisions.group_by("decision").len().iter_rows())
            report.fans = decisions.height
            report.skipped_unchanged = counts.get("unchanged", 0)
            report.silent = counts.get("silent", 0)
            report.skipped_failed = counts.get("failed_before", 0)
            to_send = decisions.filter(pl.col("decision") == SEND)["fan_id"].to_list()
            by_fan = {w.fan_id: w for w in windows.get(to_send)}
            previous = previous_summaries(history, to_send)
            budget = Budget() if unlimited else Budget(
                self.settings.max_classifications, self.settings.max_usd
            )
            items, lines = {}, []
            for fan_id in to_send:
                window = by_fan[fan_id]
                estimate = cost_usd(
                    self.settings.price,
                    estimate_prompt_tokens(window, previous.get(fan_id)),
                    DEFAULT_EXPECTED_COMPLETION_TOKENS, batch=True,
                ) or 0.0
                if not budget.reserve(estimate):
                    report.pending_budget += 1
                    continue
                custom_id = f"r{len(items)}"
                items[custom_id] = {
                    "fan_id": fan_id,
                    "window_hash": window.window_hash,
                    "message_ids": list(window.message_ids),
                    "message_times": [t.isoformat() for t in window.message_times],
                    "message_count": window.message_count,
                }
                body = request_body(self.settings.model, window, previous.get(fan_id))
                lines.append(json.dumps(
                    {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body},
                    ensure_ascii=False, separators=(",", ":"),
                ))
            report.stop_reason = budget.stop_reason
            if not items:
                return None
            job_id = f"{self.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
            job = Job(jobs_dir(self.lake, creator_id) / f"{job_id}.json", {
                "job_id": job_id, "creator_id": creator_id, "model": self.settings.model,
                "created_at": self.now().isoformat(), "as_of": as_of.isoformat(),
                "status": "planned",
                "input_file_id": None, "batch_id": None, "items": items,
            })
            payload = "\n".join(lines) + "\n"
            atomic_write(job.requests_path, lambda tmp: tmp.write_text(payload))
            job.save()
        return job

    def finish(self, job: Job, report: RunReport) -> bool:
        """Drive a job to the end and apply it; False when `max_wait` ran out first."""
        batch = self._ensure_batch(job)
        deadline = None if self.max_wait is None else time.monotonic() + self.max_wait
        while batch.status not in TERMINAL:
            if deadline is not None and time.monotonic() >= deadline:
                job.state["status"] = batch.status
                job.save()
                report.in_batch += len(job.state["items"])
                report.stop_reason = f"batch {batch.id} still {batch.status}; run again to resume"
                return False
            time.sleep(self.poll_interval)
            batch = self.client.batches.retrieve(batch.id)
        outcome = self._results(job, batch)
        with creator_lock(self.lake, job.state["creator_id"]):
            apply_results(self.lake, job.state["creator_id"], outcome.results,
                          intent_threshold=self.intent_threshold)
            job.finish()
        record(report, outcome)
        if batch.status != "completed":
            report.stop_reason = f"batch {batch.id} ended {batch.status}"
        return True

    # ---- steps -----------------------------------------------------------------------------
    def _ensure_batch(self, job: Job):
        state = job.state
        if state.get("batch_id"):
            return self.client.batches.retrieve(state["batch_id"])
        if not state.get("input_file_id"):
            uploaded = self.client.files.create(
                file=(f"{state['job_id']}.jsonl", job.requests_path.read_bytes()),
                purpose="batch",
            )
            state["input_file_id"] = uploaded.id
            state["status"] = "uploaded"
            job.save()
        batch = self._existing_batch(state["input_file_id"]) or self.client.batches.create(
            input_file_id=state["input_file_id"],
            endpoint=ENDPOINT,
            completion_window="24h",
            metadata={"ofhq_job": state["job_id"], "creator_id": state["creator_id"]},
        )
        state["batch_id"] = batch.id
        state["status"] = batch.status
        job.save()
        return batch

    def _existing_batch(self, input_file_id: str):
        """A batch already created from this file (a crash right after creating it)."""
        for batch in self.client.batches.list(limit=100).data:  # the newest page is enough
            if batch.input_file_id == input_file_id and batch.status not in ("failed", "cancelled"):
                return batch
        return None

    def _download(self, file_id: str | None) -> list[dict]:
        if not file_id:
            return []
        text = self.client.files.content(file_id).text
        return [json.loads(line) for line in io.StringIO(text) if line.strip()]

    def _results(self, job: Job, batch) -> Outcome:
        items = job.state["items"]
        requests = {}
        if job.requests_path.exists():
            for line in job.requests_path.read_text().splitlines():
                if line.strip():
                    request = json.loads(line)
                    requests[request["custom_id"]] = request["body"]
        outcome = Outcome()
        answered = set()
        for line in self._download(batch.output_file_id) + self._download(batch.error_file_id):
            custom_id = line.get("custom_id")
            if custom_id not in items or custom_id in answered:
                continue
            answered.add(custom_id)
            outcome.results.append(self._classification(items[custom_id], line,
                                                        requests.get(custom_id),
                                                        self.classified_at(job)))
        return outcome

    def classified_at(self, job: Job) -> datetime:
        """When the job's classifications are dated: the as-of its windows were read at (a job
        planned before jobs recorded it: the clock)."""
        as_of = job.state.get("as_of")
        return datetime.fromisoformat(as_of) if as_of else self.now()

    def _classification(
        self, item: dict, line: dict, request: dict | None, classified_at: datetime
    ) -> Classification:
        window = Window(
            fan_id=int(item["fan_id"]), window_hash=item["window_hash"], transcript="",
            message_ids=tuple(item["message_ids"]),
            message_times=tuple(datetime.fromisoformat(t) for t in item["message_times"]),
            message_count=int(item.get("message_count") or len(item["message_ids"])),
            fan_message_count=0, est_tokens=0,
        )
        price = self.settings.price
        response = line.get("response") or {}
        body = response.get("body") or {}
        if line.get("error") or response.get("status_code", 200) >= 400:
            detail = line.get("error") or body.get("error") or {}
            answered = Answered(None, f"batch error: {json.dumps(detail)[:300]}")
        else:
            answered = read_answer(body, read_output(window))
        usage = Usage.of(body)
        usd = cost_usd(price, usage.prompt_tokens, usage.completion_tokens, batch=True) or 0.0
        attempts = 1
        if answered.retry is not None and request is not None:  # asked once more, live
            attempts = 2
            answered = self._retry_live(request, body, answered.retry, window)
            usage = usage + answered.usage
            usd += cost_usd(price, answered.usage.prompt_tokens, answered.usage.completion_tokens,
                            answered.usage.cached_tokens) or 0.0
        answered = Answered(answered.output, answered.error, usage, usd if price else None,
                            attempts)
        return classification(window, self.settings.model, "batch", answered, classified_at)

    def _retry_live(self, request: dict, answer: dict, reason: str, window: Window) -> Answered:
        try:
            retried = self.client.chat.completions.create(
                **with_correction(request, answer, reason)
            ).model_dump()
        except openai.APIError as exc:
            return Answered(None, safe_error(exc, self.settings.api_key))
        return read_answer(retried, read_output(window))
