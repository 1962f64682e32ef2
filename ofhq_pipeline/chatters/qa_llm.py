"""The LLM reviewer: one chat completion per conversation, its answer held to a strict JSON schema.

It is the classifier's machinery (`llm.chat.SchemaChat`) applied to another question:
the same `LLMSettings` (key, endpoint, model, concurrency, retries, timeout, prices) from
`OpenAIClassifierResource`, the same official `openai` client (429, 5xx and timeouts retried by
the client with backoff honouring `Retry-After`), the same budget (`Budget`: count and dollars
reserved before sending), the same re-ask once on an invalid answer (`with_correction`), the same
cost from the API's `usage` (`pricing.cost_usd`), and the same redaction (done when the
conversation is built). An authentication or permission error stops sending; the conversations
left stay pending.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from ofhq_pipeline.chatters.conversations import (
    Conversation,
    Review,
    ReviewOutcome,
    with_message_ids,
)
from ofhq_pipeline.chatters.qa_schema import RESPONSE_FORMAT, QAOutput
from ofhq_pipeline.llm.answers import parse_completion
from ofhq_pipeline.llm.chat import Budget, SchemaChat
from ofhq_pipeline.llm.pricing import cost_usd

SYSTEM_PROMPT = """\
Review one chatter's conversation with one fan of a creator's paid chat, for the agency's \
quality team; the chatter writes as the creator. Lines: "<id> <hh:mm> F|C[ $price]: text" (F fan, \
C chatter, $price a paid offer); "* <hh:mm> fan bought ..." lines are purchases; [name] [email] \
[phone] [card] [ssn] [address] [handle] [url] are redacted. Judge the chatter, not the fan:
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
    return parse_completion(body, QAOutput)


class LLMReviewer(SchemaChat):
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
        answers = self.in_parallel(
            [partial(self.review_one, c, budget, clock) for c in conversations], "chat-qa"
        )
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
        answered = self.ask(
            request_body(self.model, conversation),
            lambda answer: with_message_ids(parse_review(answer), conversation),
            budget,
            self.estimate_usd(conversation),
        )
        if answered is None:
            return None
        return Review(
            conversation=conversation,
            model=self.model,
            method=self.method,
            reviewed_at=clock(),
            output=answered.output,
            **answered.row(),
        )
