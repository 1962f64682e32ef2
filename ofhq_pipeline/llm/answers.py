"""A model's answer to a row's fields: the validated output (or why there is none), its tokens and
what it cost, as every table of an LLM step records them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

OK = "ok"
FAILED = "failed"
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


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


_KEY_LIKE = re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_*\-]{6,}")


def safe_error(exc: BaseException, secret: str | None = None) -> str:
    """An error's class and message, without anything that looks like a key."""
    text = f"{type(exc).__name__}: {exc}"
    if secret:
        text = text.replace(secret, "***")
    return _KEY_LIKE.sub("***", text)[:500]


@dataclass(frozen=True)
class Answered(Generic[T]):
    """What one request came to: its validated output (None when it failed), why it failed, and
    what it cost. `retry` is set only for an invalid answer: the reason to ask again with."""

    output: T | None
    error: str | None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    attempts: int = 1
    retry: str | None = None

    @property
    def status(self) -> str:
        return OK if self.output is not None else FAILED

    def row(self) -> dict:
        """Status, error, tokens, dollars and attempts: the fields every LLM row records."""
        return {
            "status": self.status,
            "error": self.error,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "cached_tokens": self.usage.cached_tokens,
            "cost_usd": self.cost_usd,
            "attempts": self.attempts,
        }


def read_answer(body: dict, read: Callable[[dict], T]) -> Answered[T]:
    """One chat-completion body through `read` (which raises InvalidAnswer or Refused): the output,
    or the error a row records. A refusal is final; an invalid answer may be asked again."""
    usage = Usage.of(body)
    try:
        return Answered(read(body), None, usage)
    except Refused as exc:
        return Answered(None, str(exc), usage)
    except InvalidAnswer as exc:
        return Answered(None, f"invalid answer: {exc}", usage, retry=str(exc))
