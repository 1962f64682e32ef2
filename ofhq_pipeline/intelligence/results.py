"""What a classifier returns for one fan, and how an answer becomes a validated output."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ofhq_pipeline.intelligence.schema import SIGNALS, ClassifierOutput
from ofhq_pipeline.intelligence.windows import Window

OK = "ok"
FAILED = "failed"
M = TypeVar("M", bound=BaseModel)


@dataclass
class Classification:
    """One classification of one fan's window: `output` has real message ids."""

    fan_id: int
    window_hash: str
    model: str
    method: str  # "live", "batch" or "rules"
    status: str  # OK or FAILED
    classified_at: datetime
    output: ClassifierOutput | None = None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = 0.0
    attempts: int = 1
    message_count: int = 0
    fact_times: dict[int, datetime] = field(default_factory=dict)


@dataclass
class Outcome:
    """A classifier's pass over some fans: results, and the fans left pending (budget, stop)."""

    results: list[Classification] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    stop_reason: str | None = None


class InvalidAnswer(Exception):
    """The answer is not a valid output (retried once)."""


class Refused(Exception):
    """The model refused (not retried)."""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @classmethod
    def of(cls, body: dict) -> Usage:
        usage = body.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        return cls(
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            int(details.get("cached_tokens") or 0),
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
        )


def parse_completion(body: dict, schema: type[M]) -> M:
    """A chat-completion body (as JSON) to a validated `schema` instance; raises InvalidAnswer or
    Refused."""
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
        return schema.model_validate_json(content)
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise InvalidAnswer(f"schema: {errors}") from None


def parse_answer(body: dict) -> ClassifierOutput:
    """A chat-completion body (as JSON) to a validated output; raises InvalidAnswer or Refused."""
    return parse_completion(body, ClassifierOutput)


def with_message_ids(output: ClassifierOutput, window: Window) -> ClassifierOutput:
    """Transcript ids (1..n) to message ids; ids outside the window are dropped."""
    data = output.model_dump()
    for signal in SIGNALS:
        ids = (window.message_id(i) for i in data["intents"][signal]["evidence"])
        data["intents"][signal]["evidence"] = list(dict.fromkeys(i for i in ids if i is not None))
    for fact in data["facts"]:
        fact["message_id"] = window.message_id(fact["message_id"])
    return ClassifierOutput.model_validate(data)


def fact_times(output: ClassifierOutput, window: Window) -> dict[int, datetime]:
    """When each fact's source message was written (output with real message ids)."""
    times = {}
    for fact in output.facts:
        at = window.message_time(fact.message_id)
        if fact.message_id is not None and at is not None:
            times[fact.message_id] = at
    return times


_KEY_LIKE = re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_*\-]{6,}")


def safe_error(exc: BaseException, secret: str | None = None) -> str:
    """An error's class and message, without anything that looks like a key."""
    text = f"{type(exc).__name__}: {exc}"
    if secret:
        text = text.replace(secret, "***")
    return _KEY_LIKE.sub("***", text)[:500]


def output_json(output: ClassifierOutput | None) -> str | None:
    return None if output is None else json.dumps(output.model_dump(), ensure_ascii=False)
