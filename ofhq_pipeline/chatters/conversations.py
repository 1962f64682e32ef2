"""Conversations to review and what a review returns.

A conversation is one chatter's personal messages with one fan on one UTC day (both sides, as
shift attribution credits them) plus the purchases credited to the chatter that day. Texts are
cleaned exactly as the classifier's: HTML-stripped, contact details, card and social security
numbers, addresses and the fan's own name and username (the `fan_name` and `fan_username`
columns, when the messages carry them) replaced by placeholders, cut to 500 characters
(`intelligence.redact`), before any scorer sees them. Transcript ids are 1..n, so no OnlyFans id
leaves the machine.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

from ofhq_pipeline.chatters.qa_schema import QAOutput
from ofhq_pipeline.intelligence.redact import clean_expr

OK = "ok"
FAILED = "failed"
DEFAULT_MAX_MESSAGES = 60


@dataclass(frozen=True)
class Line:
    local_id: int
    message_id: int
    is_from_fan: bool
    at: datetime
    text: str  # cleaned and redacted
    price_cents: int


@dataclass(frozen=True)
class PurchaseLine:
    at: datetime
    type: str  # `message` (a PPV unlock) or `tip`
    amount_cents: int


@dataclass(frozen=True)
class Conversation:
    creator_id: str
    chatter: str
    fan_id: int
    day: date
    lines: tuple[Line, ...]
    purchases: tuple[PurchaseLine, ...] = ()
    tone_preference: str | None = None
    sample_reason: str = "random"

    @property
    def message_ids(self) -> list[int]:
        return [line.message_id for line in self.lines]

    @property
    def message_ids_hash(self) -> str:
        """What makes a conversation the same one: the ids of the messages reviewed."""
        text = ",".join(str(i) for i in self.message_ids)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @property
    def key(self) -> tuple[str, int, date, str]:
        return (self.chatter, self.fan_id, self.day, self.message_ids_hash)

    def message_id(self, local_id: int | None) -> int | None:
        if local_id is None or not 1 <= local_id <= len(self.lines):
            return None
        return self.lines[local_id - 1].message_id

    @property
    def transcript(self) -> str:
        """`<id> <hh:mm> F|C[ $price]: text` lines, purchases as `* <hh:mm> fan bought ...`."""
        events: list[tuple[datetime, int, str]] = []
        for line in self.lines:
            who = "F" if line.is_from_fan else "C"
            price = f" ${line.price_cents / 100:.2f}" if line.price_cents > 0 else ""
            events.append((line.at, 0, f"{line.local_id} {line.at:%H:%M} {who}{price}: {line.text}"))
        for p in self.purchases:
            what = "PPV" if p.type == "message" else p.type
            events.append((p.at, 1, f"* {p.at:%H:%M} fan bought {what} ${p.amount_cents / 100:.2f}"))
        return "\n".join(text for *_, text in sorted(events, key=lambda e: (e[0], e[1])))


@dataclass
class Review:
    """One review of one conversation; `output` carries real message ids."""

    conversation: Conversation
    model: str
    method: str  # "live" or "rules"
    status: str  # OK or FAILED
    reviewed_at: datetime
    output: QAOutput | None = None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = 0.0
    attempts: int = 1


@dataclass
class ReviewOutcome:
    reviews: list[Review] = field(default_factory=list)
    pending: list[Conversation] = field(default_factory=list)  # kept back by the budget
    stop_reason: str | None = None


def with_message_ids(output: QAOutput, conversation: Conversation) -> QAOutput:
    """Transcript ids (1..n) to message ids. Missed signals are the fan's lines and breaches the
    chatter's: an id outside the conversation, or of the other side, is dropped (a breach whose
    line is unknown keeps a null id)."""
    data = output.model_dump()
    side = {line.local_id: line.is_from_fan for line in conversation.lines}
    ids = (conversation.message_id(i) for i in data["missed_buying_signals"] if side.get(i))
    data["missed_buying_signals"] = list(dict.fromkeys(i for i in ids if i is not None))
    breaches = []
    for breach in data["policy_breaches"]:
        local = breach["message_id"]
        if side.get(local) is True:
            continue  # a fan's line: not the chatter's breach
        breaches.append({**breach, "message_id": conversation.message_id(local)})
    data["policy_breaches"] = breaches
    return QAOutput.model_validate(data)


def build_conversations(
    creator_id: str,
    sample: pl.DataFrame,
    messages: pl.DataFrame,
    purchases: pl.DataFrame,
    tones: pl.DataFrame,
    *,
    max_messages: int = DEFAULT_MAX_MESSAGES,
) -> list[Conversation]:
    """The sampled conversations, each held to its last `max_messages` messages, texts cleaned
    and redacted column-wise."""
    keys = ["chatter", "fan_id", "day"]
    own = {c: pl.col(c) if c in messages.columns else None for c in ("fan_name", "fan_username")}
    cleaned = (
        messages.with_columns(text=clean_expr(
            pl.col("text"), name=own["fan_name"], username=own["fan_username"]))
        .sort([*keys, "created_at", "message_id"])
        .with_columns(pos=pl.int_range(pl.len(), dtype=pl.Int64).over(keys),
                      n=pl.len().over(keys).cast(pl.Int64))
        .filter(pl.col("pos") >= pl.col("n") - max_messages)
    )
    by_key: dict[tuple, list[dict]] = {}
    for row in cleaned.iter_rows(named=True):
        by_key.setdefault((row["chatter"], row["fan_id"], row["day"]), []).append(row)
    bought: dict[tuple, list[PurchaseLine]] = {}
    for row in purchases.sort([*keys, "created_at"]).iter_rows(named=True):
        bought.setdefault((row["chatter"], row["fan_id"], row["day"]), []).append(
            PurchaseLine(row["created_at"], row["type"], int(row["amount_cents"])))
    tone = dict(tones.select("fan_id", "tone_preference").iter_rows())
    conversations = []
    for row in sample.sort(keys).iter_rows(named=True):
        key = (row["chatter"], row["fan_id"], row["day"])
        rows = by_key.get(key, [])
        if not rows:
            continue
        lines = tuple(
            Line(i, r["message_id"], bool(r["is_from_fan"]), r["created_at"], r["text"],
                 int(r["price_cents"] or 0))
            for i, r in enumerate(rows, start=1)
        )
        first = lines[0].at
        conversations.append(Conversation(
            creator_id=creator_id, chatter=row["chatter"], fan_id=row["fan_id"], day=row["day"],
            lines=lines,
            purchases=tuple(p for p in bought.get(key, []) if p.at >= first),
            tone_preference=tone.get(row["fan_id"]), sample_reason=row["sample_reason"],
        ))
    return conversations
