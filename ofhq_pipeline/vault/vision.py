"""The vision tagger: a vault item's picture to content tags, through the official `openai` client.

It reuses the shared LLM machinery (ofhq_pipeline/llm): `LLMSettings` for the client
and its retries (the client retries 429, 5xx and timeouts itself, honouring `Retry-After`), the
per-run `Budget` (images and USD, reserved before each request), the price table and `cost_usd`,
`Usage`, `safe_error` (no key in any error) and `with_correction` (an invalid answer is asked
again once, saying what was wrong; a second invalid answer is a failed tagging).

What leaves the machine: the item's image URL (its `preview`, `thumb`, `url`...; see
sql/marts/vault_media.sql), its type and duration. No fan data, no ids. The contract's vault
items carry no image at all: such items are tagged by the metadata rules (`vault-rules-v1`) only.

Tags come from a fixed vocabulary (`VOCABULARY`, enforced by a strict JSON schema), so matching
can rely on them: `group:value`, e.g. `mood:playful`, `setting:beach`, `style:behind_scenes`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from ofhq_pipeline.llm.answers import parse_completion
from ofhq_pipeline.llm.chat import Budget, LLMSettings, SchemaChat
from ofhq_pipeline.llm.pricing import cost_usd

if TYPE_CHECKING:
    import openai

PROMPT_VERSION = "vault-vision-v1"

VOCABULARY: dict[str, tuple[str, ...]] = {
    "setting": ("bedroom", "bathroom", "shower", "kitchen", "living_room", "outdoor", "beach",
                "pool", "gym", "car", "studio"),
    "outfit": ("lingerie", "swimwear", "casual", "sportswear", "costume", "uniform", "formal",
               "topless", "nude"),
    "shot": ("selfie", "mirror", "pov", "close_up", "full_body", "professional"),
    "mood": ("playful", "romantic", "sensual", "glamour", "candid", "dominant"),
    "style": ("behind_scenes", "tease", "explicit"),
    "people": ("solo", "couple", "group"),
}
TAGS: tuple[str, ...] = tuple(f"{g}:{v}" for g, values in VOCABULARY.items() for v in values)
MAX_TAGS = 12

SYSTEM_PROMPT = (
    "Tag one item of a creator's content vault for her chat team, so they can offer each fan "
    "what he likes. Look at the picture; use only tags from the schema, each with your "
    "confidence 0-100; at most 12; only what you can see (no guesses about people). "
    "Groups: setting, outfit, shot, mood, style (behind_scenes, tease, explicit), people."
)
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "vault_tags",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "tags": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "tag": {"type": "string", "enum": list(TAGS)},
                            "confidence": {"type": "integer"},
                        },
                        "required": ["tag", "confidence"],
                        "additionalProperties": False,
                    },
                }
            },
            "required": ["tags"],
            "additionalProperties": False,
        },
    },
}
MAX_COMPLETION_TOKENS = 300
EXPECTED_COMPLETION_TOKENS = 120
# Input tokens one low-detail image costs, per model family (gpt-4o-mini bills images ~33x).
IMAGE_TOKENS_LOW = {"gpt-4o-mini": 2_833}
DEFAULT_IMAGE_TOKENS_LOW = 85
HIGH_DETAIL_FACTOR = 4  # a rough reserve for `detail: high|auto` (tiles depend on the image)


class VisionTag(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    tag: Literal[TAGS]  # type: ignore[valid-type]
    confidence: Annotated[int, Field(ge=0, le=100, strict=True)]


class VisionOutput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    tags: list[VisionTag] = Field(max_length=MAX_TAGS)


@dataclass(frozen=True)
class VisionItem:
    """What the tagger sees of one vault item."""

    media_id: int
    media_type: str | None
    duration_s: int | None
    image_url: str

    @property
    def input_hash(self) -> str:
        """Changes when what would be sent changes. A URL's query string is left out: CDN links
        are re-signed on every fetch, and a new signature is not a new picture."""
        parts = urlsplit(self.image_url)
        stable = (self.image_url[:200] if parts.scheme == "data"
                  else f"{parts.scheme}://{parts.netloc}{parts.path}")
        text = f"{PROMPT_VERSION}|{stable}|{self.media_type}|{self.duration_s or 0}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Tagging:
    """One tagging of one item by one tagger (ok or failed)."""

    media_id: int
    input_hash: str
    source: str  # "vision" or "rules"
    model: str
    status: str
    tagged_at: datetime
    tags: list[tuple[str, int]] = field(default_factory=list)
    error: str | None = None
    attempts: int = 1
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = 0.0


@dataclass
class VisionOutcome:
    results: list[Tagging] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    stop_reason: str | None = None


def item_text(item: VisionItem) -> str:
    kind = item.media_type or "media"
    if item.duration_s:
        return f"Vault item: {kind}, {item.duration_s} s (the picture is its preview)."
    return f"Vault item: {kind}."


def request_body(model: str, item: VisionItem, detail: str = "low") -> dict:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": [
                {"type": "text", "text": item_text(item)},
                {"type": "image_url", "image_url": {"url": item.image_url, "detail": detail}},
            ]},
        ],
        "response_format": RESPONSE_FORMAT,
        "temperature": 0,
        "max_completion_tokens": MAX_COMPLETION_TOKENS,
    }


_FIXED_CHARS = len(SYSTEM_PROMPT) + len(json.dumps(RESPONSE_FORMAT, separators=(",", ":")))


def image_tokens(model: str, detail: str) -> int:
    base = next((n for name, n in IMAGE_TOKENS_LOW.items()
                 if model == name or model.startswith(name + "-")), DEFAULT_IMAGE_TOKENS_LOW)
    return base if detail == "low" else base * HIGH_DETAIL_FACTOR


def estimate_prompt_tokens(model: str, item: VisionItem, detail: str) -> int:
    return (_FIXED_CHARS + len(item_text(item)) + 3) // 4 + 20 + image_tokens(model, detail)


def parse_answer(body: dict) -> VisionOutput:
    """A chat-completion body to validated tags; raises InvalidAnswer or Refused."""
    return parse_completion(body, VisionOutput)


def best_tags(output: VisionOutput) -> list[tuple[str, int]]:
    """One row per tag (its highest confidence), in vocabulary order."""
    best: dict[str, int] = {}
    for t in output.tags:
        best[t.tag] = max(best.get(t.tag, 0), t.confidence)
    return [(tag, best[tag]) for tag in TAGS if tag in best]


class VisionTagger(SchemaChat):
    """Tags items through chat completions with image input, a strict schema and a budget."""

    source = "vision"

    def __init__(self, settings: LLMSettings, *, detail: str = "low",
                 client: openai.OpenAI | None = None) -> None:
        super().__init__(settings, client)
        self.detail = detail

    def new_budget(self) -> Budget:
        return Budget(self.settings.max_classifications, self.settings.max_usd)

    def estimate_usd(self, item: VisionItem) -> float:
        usd = cost_usd(self.settings.price, estimate_prompt_tokens(self.model, item, self.detail),
                       EXPECTED_COMPLETION_TOKENS)
        return usd or 0.0

    def tag(self, items: list[VisionItem], *, budget: Budget | None = None,
            now: Callable[[], datetime] | None = None) -> VisionOutcome:
        """Tag `items` in the order given (also the budget's priority)."""
        budget = budget or self.new_budget()
        clock = now or (lambda: datetime.now(UTC))
        answers = self.in_parallel(
            [partial(self.tag_one, item, budget, clock) for item in items], "vault-vision"
        )
        outcome = VisionOutcome(stop_reason=budget.stop_reason)
        for item, answer in zip(items, answers, strict=True):
            if answer is None:
                outcome.pending.append(item.media_id)
            else:
                outcome.results.append(answer)
        return outcome

    def tag_one(self, item: VisionItem, budget: Budget,
                clock: Callable[[], datetime]) -> Tagging | None:
        """One item; None when the budget (or a stop) kept it from being sent."""
        answered = self.ask(request_body(self.model, item, self.detail), parse_answer, budget,
                            self.estimate_usd(item))
        if answered is None:
            return None
        output = answered.output
        return Tagging(
            media_id=item.media_id,
            input_hash=item.input_hash,
            source=self.source,
            model=self.model,
            tagged_at=clock(),
            tags=best_tags(output) if output is not None else [],
            **answered.row(),
        )
