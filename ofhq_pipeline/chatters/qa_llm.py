"""The LLM reviewer: one chat completion per conversation, its answer held to a strict JSON schema.

It is the classifier's machinery applied to another question: the same `LLMSettings` (key,
endpoint, model, concurrency, retries, timeout, prices) from `OpenAIClassifierResource`, the same
official `openai` client (429, 5xx and timeouts retried by the client with backoff honouring
`Retry-After`), the same budget (`Budget`: count and dollars reserved before sending), the same
re-ask once on an invalid answer (`with_correction`), the same cost from the API's `usage`
(`pricing.cost_usd`), and the same redaction (done when the conversation is built). An
authentication or permission error stops sending; the conversations left stay pending.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import openai
from pydantic import ValidationError

from ofhq_pipeline.chatters.conversations import (
    FAILED,
    OK,
    Conversation,
    Review,
    ReviewOutcome,
    with_message_ids,
)
from ofhq_pipeline.chatters.qa_schema import RESPONSE_FORMAT, QAOutput
from ofhq_pipeline.intelligence.llm import Budget, LLMSettings, with_correction
from ofhq_pipeline.intelligence.pricing import cost_usd
from ofhq_pipeline.intelligence.results import InvalidAnswer, Refused, Usage, safe_error

SYSTEM_PROMPT = """\
Review one chatter's conversation with one fan of a creator's paid chat, for the agency's \
quality team; the chatter writes as the creator. Lines: "<id> <hh:mm> F|C[ $price]: text" (F fan, \
C chatter, $price a paid offer); "* <hh:mm> fan bought ..." lines are purchases; [email] [phone] \
[card] [url] are redacted. Judge the chatter, not the fan:
- tone_match 0-100: the chatter's tone fits the fan's preferred tone (given, else as his lines \
suggest).
- offer_pacing 0-100: offers come after rapport, spaced, never stacked without a reply; 100 when \
no offer was due.
- pushiness 0-100: pressure, guilt, repeated asks; 0 none.
- missed_buying_signals: ids of fan lines showing will to buy (asks the price, for more, for a \
custom, says he is ready) left without an offer or follow-up.
- policy_breaches: chatter lines moving the fan off the platform (off_platform), offering to meet \
(meeting), asking payment outside it (payment_outside), insulting (abusive), mentioning minors \
(underage), other rule breaks (other); message_id = the line's id.
- score 0-100: overall quality. reasons: up to 5 short phrases, the most important first."""

MAX_COMPLETION_TOKENS = 400
EXPECTED_COMPLETION_TOKENS = 120


def user_prompt(conversation: Conversation) -> str:
    tone = conversation.tone_preference or "unknown"
    return f"Fan's preferred tone: {tone}\n\nChat:\n{conversation.transcript}"


def request_body(model: str, conversation: Conversation) -> dict:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": user_prompt(conversation)},
        ],
        "response_format": RESPONSE_FORMAT,
        "temperature": 0,
        "max_completion_tokens": MAX_COMPLETION_TOKENS,
    }


_FIXED_CHARS = len(SYSTEM_PROMPT) + len(json.dumps(RESPONSE_FORMAT, separators=(",", ":")))


def estimate_prompt_tokens(conversation: Conversation) -> int:
    """chars/4 over the prompt and the schema, as the classifier estimates its windows."""
    return (_FIXED_CHARS + len(user_prompt(conversation)) + 3) // 4 + 12


def parse_review(body: dict) -> QAOutput:
    """A chat-completion body to a validated review; raises InvalidAnswer or Refused."""
    choices = body.get("choices") or []
    if not choices:
        raise InvalidAnswer("no choices in the answer")
    choice = choices[0] or {}
    message = choice.get("message") or {}
    if message.get("refusal"):
        raise Refused(f"refused: {str(message['refusal'])[:300]}")
    if choice.get("finish_reason") == "length":
        raise InvalidAnswer("answer cut off at the token limit")
    content = message.get("content")
    if not content:
        raise InvalidAnswer("empty answer")
    try:
        return QAOutput.model_validate_json(content)
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise InvalidAnswer(f"schema: {errors}") from None


class LLMReviewer:
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

    def estimate_usd(self, conversation: Conversation) -> float:
        usd = cost_usd(self.settings.price, estimate_prompt_tokens(conversation),
                       EXPECTED_COMPLETION_TOKENS)
        return usd or 0.0

    def review(
        self,
        conversations: list[Conversation],
        *,
        budget: Budget | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> ReviewOutcome:
        """Review `conversations` in the order given (the budget's priority)."""
        budget = budget or Budget()
        clock = now or (lambda: datetime.now(UTC))
        workers = max(1, self.settings.concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chat-qa") as pool:
            futures = [pool.submit(self.review_one, c, budget, clock) for c in conversations]
            answers = [f.result() for f in futures]
        outcome = ReviewOutcome(stop_reason=budget.stop_reason)
        for conversation, answer in zip(conversations, answers, strict=True):
            if answer is None:
                outcome.pending.append(conversation)
            else:
                outcome.reviews.append(answer)
        return outcome

    def review_one(
        self, conversation: Conversation, budget: Budget, clock: Callable[[], datetime]
    ) -> Review | None:
        """One conversation; None when the budget (or a stop) kept it from being sent."""
        estimate = self.estimate_usd(conversation)
        if not budget.reserve(estimate):
            return None
        body = request_body(self.model, conversation)
        usage = Usage()
        error: str | None = None
        output: QAOutput | None = None
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
                    output = with_message_ids(parse_review(answer), conversation)
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
            actual = cost_usd(self.settings.price, usage.prompt_tokens, usage.completion_tokens,
                              usage.cached_tokens)
            budget.settle(estimate, actual)
        return Review(
            conversation=conversation,
            model=self.model,
            method=self.method,
            status=OK if output is not None else FAILED,
            reviewed_at=clock(),
            output=output,
            error=error,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            cost_usd=actual,
            attempts=attempts,
        )
