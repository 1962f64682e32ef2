"""The classifier's output (classifier.md): pydantic models, and the strict JSON schema sent.

Both the LLM and the rules classifier produce a `ClassifierOutput`; an LLM answer is valid only if
it parses into one. The JSON schema sent as `response_format` is written out here by hand (rather
than generated) so it stays small: every property required, no additional properties, as strict
mode demands, and no descriptions (the system prompt explains the fields once).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

SIGNALS: tuple[str, ...] = (
    "ready_to_buy", "wants_custom", "price_question", "discount_request", "wants_more",
    "high_intent", "churn_risk", "escalation_intent", "trust_intent", "attention_intent",
    "status_intent", "emotional_support", "entertainment", "boundary_testing",
)
FACT_CATEGORIES: tuple[str, ...] = (
    "hobby", "pet_name", "food_drink", "occupation", "work_schedule", "location", "timezone",
    "language", "relationship_status", "body_preference", "sports_team", "birthday",
    "sub_anniversary", "other",
)

FanType = Literal["submissive", "dominant", "romantic", "transactional", "lonely"]
Tone = Literal["playful", "assertive", "romantic", "direct"]
Driver = Literal[
    "validation", "companionship", "escapism", "excitement", "status", "intimacy", "curiosity"
]
ContentFormat = Literal["photo", "video", "audio", "text", "bundle"]
Length = Literal["short", "medium", "long"]
Frequency = Literal["daily", "few_times_week", "only_new_content"]
Opener = Literal["meme", "question", "update", "compliment", "topic_hook"]
Offer = Literal["limited_drop", "bundle", "personalized", "behind_scenes"]
ObjectionType = Literal["price", "trust", "timing", "content", "other"]
FactCategory = Literal[
    "hobby", "pet_name", "food_drink", "occupation", "work_schedule", "location", "timezone",
    "language", "relationship_status", "body_preference", "sports_team", "birthday",
    "sub_anniversary", "other",
]

SUMMARY_MAX_CHARS = 600
MAX_NEEDS = 5

Score = Annotated[int, Field(ge=0, le=100, strict=True)]


def _clip_summary(value: Any) -> Any:
    """At most 600 characters, cut at a word boundary: a long portrait is trimmed, not refused."""
    if isinstance(value, str) and len(value) > SUMMARY_MAX_CHARS:
        cut = value[: SUMMARY_MAX_CHARS - 1]
        return (cut.rsplit(" ", 1)[0] if " " in cut[-60:] else cut).rstrip() + "…"
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Intent(_Strict):
    score: Score
    evidence: list[Annotated[int, Field(strict=True)]] = Field(default_factory=list)


class Intents(_Strict):
    ready_to_buy: Intent
    wants_custom: Intent
    price_question: Intent
    discount_request: Intent
    wants_more: Intent
    high_intent: Intent
    churn_risk: Intent
    escalation_intent: Intent
    trust_intent: Intent
    attention_intent: Intent
    status_intent: Intent
    emotional_support: Intent
    entertainment: Intent
    boundary_testing: Intent


class Fact(_Strict):
    category: FactCategory
    value: Annotated[str, Field(min_length=1, max_length=200)]
    confidence: Score
    message_id: Annotated[int, Field(strict=True)] | None


class Objection(_Strict):
    type: ObjectionType
    text: Annotated[str, Field(max_length=300)]


class Toxicity(_Strict):
    flag: bool
    reason: str | None


class ClassifierOutput(_Strict):
    fan_type: FanType
    tone_preference: Tone
    emotional_drivers: list[Driver]
    emotional_needs: list[Annotated[str, Field(max_length=120)]]
    content_format_preference: ContentFormat
    length_preference: Length
    narrative_summary: Annotated[str, BeforeValidator(_clip_summary)]
    intents: Intents
    facts: list[Fact]
    objections: list[Objection]
    frequency_preference: Frequency
    best_opener_type: Opener
    best_offer_type: Offer
    custom_interest_level: Score
    toxicity: Toxicity
    confidence: Score

    @field_validator("emotional_drivers")
    @classmethod
    def _unique_drivers(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("emotional_needs")
    @classmethod
    def _at_most_five(cls, value: list[str]) -> list[str]:
        return [v.strip() for v in value if v.strip()][:MAX_NEEDS]

    def intent_scores(self) -> dict[str, int]:
        return {signal: getattr(self.intents, signal).score for signal in SIGNALS}


def _enum(literal) -> dict:
    return {"type": "string", "enum": list(get_args(literal))}


def _object(properties: dict[str, dict]) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


_SCORE = {"type": "integer"}
_IDS = {"type": "array", "items": {"type": "integer"}}


def json_schema() -> dict:
    """The `response_format` schema (strict): the output table of classifier.md.

    The 14 intents share one definition (`$defs`), which keeps the schema, sent with every
    request, to about 2,500 characters.
    """
    schema = _object({
        "fan_type": _enum(FanType),
        "tone_preference": _enum(Tone),
        "emotional_drivers": {"type": "array", "items": _enum(Driver)},
        "emotional_needs": {"type": "array", "items": {"type": "string"}},
        "content_format_preference": _enum(ContentFormat),
        "length_preference": _enum(Length),
        "narrative_summary": {"type": "string"},
        "intents": _object({signal: {"$ref": "#/$defs/intent"} for signal in SIGNALS}),
        "facts": {"type": "array", "items": _object({
            "category": _enum(FactCategory),
            "value": {"type": "string"},
            "confidence": _SCORE,
            "message_id": {"type": ["integer", "null"]},
        })},
        "objections": {"type": "array", "items": _object({
            "type": _enum(ObjectionType), "text": {"type": "string"},
        })},
        "frequency_preference": _enum(Frequency),
        "best_opener_type": _enum(Opener),
        "best_offer_type": _enum(Offer),
        "custom_interest_level": _SCORE,
        "toxicity": _object({"flag": {"type": "boolean"}, "reason": {"type": ["string", "null"]}}),
        "confidence": _SCORE,
    })
    schema["$defs"] = {"intent": _object({"score": _SCORE, "evidence": _IDS})}
    return schema


RESPONSE_FORMAT: dict = {
    "type": "json_schema",
    "json_schema": {"name": "fan_profile", "strict": True, "schema": json_schema()},
}
