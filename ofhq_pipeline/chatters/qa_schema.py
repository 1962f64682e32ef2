"""A conversation review: the pydantic model every scorer returns and the strict JSON schema the
LLM's answer is held to (`response_format`, every property required, no others)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

BreachType = Literal["off_platform", "meeting", "payment_outside", "abusive", "underage", "other"]
BREACH_TYPES: tuple[str, ...] = get_args(BreachType)
MAX_REASONS = 5
REASON_MAX_CHARS = 200

Score = Annotated[int, Field(ge=0, le=100, strict=True)]


def _clip_reasons(value: Any) -> Any:
    """At most 5 reasons of at most 200 characters: a long answer is trimmed, not refused."""
    if isinstance(value, list):
        return [r[:REASON_MAX_CHARS] if isinstance(r, str) else r for r in value[:MAX_REASONS]]
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Breach(_Strict):
    type: BreachType
    message_id: int | None  # a transcript id in the answer, a real message id once mapped


class QAOutput(_Strict):
    """Higher is better for `score`, `tone_match` and `offer_pacing`; `pushiness` is the
    pressure the chatter put on the fan (0 none)."""

    score: Score
    tone_match: Score
    offer_pacing: Score
    pushiness: Score
    missed_buying_signals: list[int]
    policy_breaches: list[Breach]
    reasons: Annotated[list[str], BeforeValidator(_clip_reasons)]


_SCORE = {"type": "integer", "minimum": 0, "maximum": 100}


def _object(properties: dict) -> dict:
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


def json_schema() -> dict:
    return _object({
        "score": _SCORE,
        "tone_match": _SCORE,
        "offer_pacing": _SCORE,
        "pushiness": _SCORE,
        "missed_buying_signals": {"type": "array", "items": {"type": "integer"}},
        "policy_breaches": {"type": "array", "items": _object({
            "type": {"type": "string", "enum": list(BREACH_TYPES)},
            "message_id": {"type": ["integer", "null"]},
        })},
        "reasons": {"type": "array", "items": {"type": "string"}},
    })


RESPONSE_FORMAT: dict = {
    "type": "json_schema",
    "json_schema": {"name": "chat_qa_review", "strict": True, "schema": json_schema()},
}
