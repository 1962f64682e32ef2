"""Chat completions answered to a strict JSON schema, through the official `openai` client.

- Bounded concurrency: a thread pool of `concurrency` workers shares one client.
- 429 and 5xx are retried by the client itself (`max_retries`, exponential backoff honouring
  `Retry-After`); what still fails is recorded as a failed answer for that item.
- An answer that does not validate is asked again once (with the validation error); if the second
  answer is not valid either, the item is recorded as failed with the reason. A refusal is
  recorded as failed at once. Either way the other items go on.
- A per-run budget: at most `max_classifications` sent and at most `max_usd` spent (each request
  reserves its estimated cost before it is sent); items beyond it are not sent and stay pending.
- An authentication or permission error stops sending: the remaining items stay pending.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # imported on first call: most runs never reach the API
    import openai

from ofhq_pipeline.llm.answers import Answered, Usage, read_answer, safe_error
from ofhq_pipeline.llm.pricing import Price, cost_usd, price_for

DEFAULT_MODEL = "gpt-4o-mini"
T = TypeVar("T")
R = TypeVar("R")


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


def openai_client(settings: LLMSettings) -> openai.OpenAI:
    """The official client: 429, 5xx and timeouts retried by it (`max_retries`, backoff honouring
    `Retry-After`)."""
    import openai

    return openai.OpenAI(
        api_key=settings.api_key,
        base_url=settings.base_url or None,
        max_retries=settings.max_retries,
        timeout=settings.timeout,
    )


class SchemaChat:
    """Chat completions answered to a strict JSON schema by one shared client: the machinery of
    the classifier, the chatters' conversation reviewer and the vault's vision tagger."""

    method = "live"

    def __init__(self, settings: LLMSettings, client: openai.OpenAI | None = None) -> None:
        self.settings = settings
        self.model = settings.model
        self.client = client or openai_client(settings)

    def close(self) -> None:
        self.client.close()

    def in_parallel(self, tasks: list[Callable[[], R]], thread_name_prefix: str) -> list[R]:
        """The tasks' results in order, `concurrency` at a time."""
        workers = max(1, self.settings.concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=thread_name_prefix) as pool:
            futures = [pool.submit(task) for task in tasks]
            return [f.result() for f in futures]

    def ask(
        self, body: dict, read: Callable[[dict], T], budget: Budget, estimate: float
    ) -> Answered[T] | None:
        """One request, its `estimate` reserved in `budget` first (None when that was refused).
        `read` turns an answer into the output or raises InvalidAnswer (asked once more, saying
        what was wrong) or Refused; an API error fails at once and an authentication or
        permission error stops the budget. The actual cost is settled whatever happens."""
        if not budget.reserve(estimate):
            return None
        usage = Usage()
        error: str | None = None
        output: T | None = None
        attempts = 0
        try:
            for attempts in (1, 2):
                import openai

                try:
                    answer = self.client.chat.completions.create(**body).model_dump()
                except openai.APIError as exc:
                    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
                        budget.stop(f"stopped: {type(exc).__name__}")
                    error = safe_error(exc, self.settings.api_key)
                    break
                answered = read_answer(answer, read)
                usage = usage + answered.usage
                output, error = answered.output, answered.error
                if answered.retry is None:
                    break
                if attempts == 1:  # ask once more, saying what was wrong
                    body = with_correction(body, answer, answered.retry)
        finally:
            actual = cost_usd(
                self.settings.price, usage.prompt_tokens, usage.completion_tokens,
                usage.cached_tokens,
            )
            budget.settle(estimate, actual)
        return Answered(output, error, usage, actual, attempts)


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
