"""The LLM classifier: chat completions with a strict JSON schema, through the `openai` client.

- Bounded concurrency: a thread pool of `concurrency` workers shares one client.
- 429 and 5xx are retried by the client itself (`max_retries`, exponential backoff honouring
  `Retry-After`); what still fails is recorded as a failed classification for that fan.
- An answer that does not validate is asked again once (with the validation error); if the second
  answer is not valid either, the fan's classification is recorded as failed with the reason. A
  refusal is recorded as failed at once. Either way the other fans go on.
- A per-run budget: at most `max_classifications` sent and at most `max_usd` spent (each request
  reserves its estimated cost before it is sent); fans beyond it are not sent and stay pending.
- An authentication or permission error stops sending: the remaining fans stay pending.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import openai

from ofhq_pipeline.intelligence.pricing import (
    DEFAULT_EXPECTED_COMPLETION_TOKENS,
    Price,
    cost_usd,
    price_for,
)
from ofhq_pipeline.intelligence.prompt import estimate_prompt_tokens, request_body
from ofhq_pipeline.intelligence.results import (
    FAILED,
    OK,
    Classification,
    InvalidAnswer,
    Outcome,
    Refused,
    Usage,
    fact_times,
    parse_answer,
    safe_error,
    with_message_ids,
)
from ofhq_pipeline.intelligence.windows import Window

DEFAULT_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class LLMSettings:
    api_key: str = field(repr=False)
    base_url: str | None = None
    model: str = DEFAULT_MODEL
    concurrency: int = 4
    max_classifications: int | None = None
    max_usd: float | None = None
    max_retries: int = 3
    timeout: float = 60.0
    prices: dict[str, Price] | None = None

    @property
    def price(self) -> Price | None:
        return price_for(self.model, self.prices)


class Budget:
    """Counts and dollars of one run, shared by the workers; reserve before sending."""

    def __init__(self, max_count: int | None = None, max_usd: float | None = None) -> None:
        self.max_count = max_count
        self.max_usd = max_usd
        self.started = 0
        self.spent = 0.0
        self.reserved = 0.0
        self.stop_reason: str | None = None
        self._lock = threading.Lock()

    def reserve(self, estimate: float) -> bool:
        with self._lock:
            if self.stop_reason:
                return False
            if self.max_count is not None and self.started >= self.max_count:
                self.stop_reason = f"max_classifications_per_run ({self.max_count}) reached"
                return False
            if self.max_usd is not None and self.spent + self.reserved + estimate > self.max_usd:
                self.stop_reason = f"max_usd_per_run (${self.max_usd}) reached"
                return False
            self.started += 1
            self.reserved += estimate
            return True

    def settle(self, estimate: float, actual: float | None) -> None:
        with self._lock:
            self.reserved -= estimate
            self.spent += actual or 0.0

    def stop(self, reason: str) -> None:
        with self._lock:
            self.stop_reason = self.stop_reason or reason


class LLMClassifier:
    method = "live"

    def __init__(self, settings: LLMSettings, client: openai.OpenAI | None = None) -> None:
        self.settings = settings
        self.model = settings.model
        self.client = client or openai.OpenAI(
            api_key=settings.api_key,
            base_url=settings.base_url or None,
            max_retries=settings.max_retries,
            timeout=settings.timeout,
        )

    def close(self) -> None:
        self.client.close()

    def new_budget(self, *, unlimited: bool = False) -> Budget:
        if unlimited:
            return Budget()
        return Budget(self.settings.max_classifications, self.settings.max_usd)

    def estimate_usd(self, window: Window, previous_summary: str | None) -> float:
        usd = cost_usd(
            self.settings.price,
            estimate_prompt_tokens(window, previous_summary),
            DEFAULT_EXPECTED_COMPLETION_TOKENS,
        )
        return usd or 0.0

    def classify(
        self,
        windows: list[Window],
        previous: dict[int, str],
        *,
        budget: Budget | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> Outcome:
        """Classify `windows` (in the order given, which is also the budget's priority)."""
        budget = budget or self.new_budget()
        clock = now or (lambda: datetime.now(UTC))
        workers = max(1, self.settings.concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="classify") as pool:
            futures = [
                pool.submit(self.classify_one, w, previous.get(w.fan_id), budget, clock)
                for w in windows
            ]
            answers = [f.result() for f in futures]
        outcome = Outcome(stop_reason=budget.stop_reason)
        for window, answer in zip(windows, answers, strict=True):
            if answer is None:
                outcome.pending.append(window.fan_id)
            else:
                outcome.results.append(answer)
        return outcome

    def classify_one(
        self,
        window: Window,
        previous_summary: str | None,
        budget: Budget,
        clock: Callable[[], datetime],
    ) -> Classification | None:
        """One fan; None when the budget (or a stop) kept it from being sent."""
        estimate = self.estimate_usd(window, previous_summary)
        if not budget.reserve(estimate):
            return None
        body = request_body(self.model, window, previous_summary)
        usage = Usage()
        error: str | None = None
        output = None
        attempts = 0
        try:
            for attempts in (1, 2):
                try:
                    answer = self.client.chat.completions.create(**body).model_dump()
                except openai.APIError as exc:
                    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
                        budget.stop(f"stopped: {type(exc).__name__}")
                    error = safe_error(exc, self.settings.api_key)
                    break
                usage = usage + Usage.of(answer)
                try:
                    output = with_message_ids(parse_answer(answer), window)
                    error = None
                    break
                except Refused as exc:
                    error = str(exc)
                    break
                except InvalidAnswer as exc:
                    error = f"invalid answer: {exc}"
                    if attempts == 1:  # ask once more, saying what was wrong
                        body = with_correction(body, answer, str(exc))
        finally:
            actual = cost_usd(
                self.settings.price, usage.prompt_tokens, usage.completion_tokens,
                usage.cached_tokens,
            )
            budget.settle(estimate, actual)
        return Classification(
            fan_id=window.fan_id,
            window_hash=window.window_hash,
            model=self.model,
            method=self.method,
            status=OK if output is not None else FAILED,
            classified_at=clock(),
            output=output,
            error=error,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            cost_usd=actual,
            attempts=attempts,
            message_count=window.message_count,
            fact_times=fact_times(output, window) if output is not None else {},
        )


def with_correction(body: dict, answer: dict, reason: str) -> dict:
    previous = ((answer.get("choices") or [{}])[0].get("message") or {}).get("content") or ""
    return {
        **body,
        "messages": [
            *body["messages"],
            {"role": "assistant", "content": previous[:4000]},
            {"role": "user", "content": f"Invalid ({reason[:300]}). Answer again, valid per schema."},
        ],
    }
