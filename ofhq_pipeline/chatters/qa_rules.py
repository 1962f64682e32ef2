"""`qa-rules-v1`: a deterministic conversation scorer, used when no OpenAI key is configured.

It reads the same cleaned, redacted conversation as the LLM and returns the same `QAOutput`; its
rows are labelled `qa-rules-v1`, never presented as the LLM's. It starts from 100 and deducts:

| finding | how it is found (chatter lines unless said) | deduction |
|---|---|---|
| policy breach | off-platform contact (snap, whatsapp, telegram, "my number", a redacted [email], [phone], [handle] or [url]), payment outside (cashapp, paypal, venmo, crypto, gift cards, [card]), meeting in person, insults, minors | 40 the first, 20 each further |
| missed buying signal | a fan line with a buying cue (the classifier's ready_to_buy, wants_custom, price_question, wants_more, high_intent patterns) followed by no paid offer, no offer talk and no purchase | 15 each, at most 45 |
| pressure | "last chance", "hurry", "why haven't you", "unlock it now", "don't be cheap", … | 10 a line, at most 30 |
| stacked offer | a paid offer after another with no fan line in between | 15 each, at most 30 |
| cold offer | a paid offer (not already stacked) before the fan wrote anything in the conversation | 10 each, at most 20 |
| tone mismatch | the fan's preferred tone (`marts.fan_preferences`) has no cue in the chatter's lines while another tone has two or more; `direct`: chatter lines average over 160 characters | 15 |

Sub-scores: pushiness = min(100, 25 × (pressure lines + stacked offers)); offer_pacing =
max(0, 100 − 30 × stacked − 20 × cold); tone_match = 90 matched, 30 mismatched, 60 unknown.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from ofhq_pipeline.chatters.conversations import OK, Conversation, Line, Review, ReviewOutcome
from ofhq_pipeline.chatters.qa_schema import Breach, QAOutput
from ofhq_pipeline.intelligence.rules import SIGNAL_RULES

RULES_MODEL = "qa-rules-v1"

BREACH_RULES: tuple[tuple[str, re.Pattern], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in (
        ("off_platform",
         r"\b(?:snap(?:chat)?|whats ?app|telegram|kik|discord|insta(?:gram)?|text me|call me"
         r"|my (?:number|cell|phone)|add me on|dm me on)\b|\[email\]|\[phone\]|\[handle\]|\[url\]"),
        ("payment_outside",
         r"\b(?:cash ?app|paypal|venmo|zelle|crypto|bitcoin|btc|gift ?cards?|wire (?:me|transfer)"
         r"|pay me (?:directly|outside))\b|\[card\]"),
        ("meeting",
         r"\b(?:meet (?:up|me|you|irl|in person)|in person|come over|my place|your place"
         r"|hotel room|hook ?up)\b"),
        ("abusive",
         r"\b(?:idiot|stupid|loser|pathetic|shut up|cheapskate|broke ass|worthless|pervert)\b"),
        ("underage",
         r"\b(?:underage|minor|high ?school|school ?girl|1[0-7] ?(?:yo|y/o|years? old))\b"),
    )
)
PRESSURE = re.compile(
    r"\b(?:last chance|hurry|before it'?s gone|only \d+ (?:left|spots?|minutes?)"
    r"|expires? (?:soon|tonight|in)|why (?:haven'?t|didn'?t|won'?t|don'?t) you"
    r"|don'?t be (?:cheap|shy|boring)|you (?:have|need|owe) (?:to|me)|unlock (?:it |this )?now"
    r"|buy (?:it |this )?now|are you ignoring|answer me|i'?m waiting|what are you waiting for"
    r"|prove (?:it|you))\b",
    re.IGNORECASE,
)
BUYING_SIGNALS = ("ready_to_buy", "wants_custom", "price_question", "wants_more", "high_intent")
BUYING = re.compile("|".join(f"(?:{SIGNAL_RULES[s][0]})" for s in BUYING_SIGNALS), re.IGNORECASE)
OFFER_TALK = re.compile(
    r"\$\s?\d|\b(?:price|unlock|ppv|bundle|custom|offer|deal|discount|tip menu|sending (?:it|you))\b",
    re.IGNORECASE,
)
TONE_CUES: dict[str, re.Pattern] = {
    "playful": re.compile(
        r"\b(?:ha(?:ha)+|he(?:he)+|lol|lmao|tease|teasing|naughty|cheeky|wink)\b|😜|😂|😉|😏|;\)|:p",
        re.IGNORECASE),
    "romantic": re.compile(
        r"\b(?:babe|baby|love|lover|darling|sweetheart|honey|miss(?:ed)? you|my heart)\b"
        r"|❤|💕|😍|🥰", re.IGNORECASE),
    "assertive": re.compile(
        r"\b(?:do it|you will|i want you to|good boy|obey|on your knees|listen to me|do as i say)\b",
        re.IGNORECASE),
}
DIRECT_MAX_MEAN_CHARS = 160


def _breaches(lines: list[Line]) -> list[Breach]:
    found = []
    for line in lines:
        for kind, pattern in BREACH_RULES:
            if pattern.search(line.text):
                found.append(Breach(type=kind, message_id=line.message_id))
    return found


def _missed_signals(conversation: Conversation) -> list[int]:
    missed = []
    lines = conversation.lines
    for i, line in enumerate(lines):
        if not line.is_from_fan or not BUYING.search(line.text):
            continue
        followed = any(
            not later.is_from_fan and (later.price_cents > 0 or OFFER_TALK.search(later.text))
            for later in lines[i + 1:]
        ) or any(p.at >= line.at for p in conversation.purchases)
        if not followed:
            missed.append(line.message_id)
    return missed


def _offers(lines: list[Line]) -> tuple[int, int]:
    """(stacked, cold): offers after an offer with no fan line between; first offers before the
    fan wrote anything (a stacked one counts as stacked only)."""
    stacked = cold = 0
    fan_spoke = False
    offer_waiting = False  # an offer with no fan line since
    for line in lines:
        if line.is_from_fan:
            fan_spoke = True
            offer_waiting = False
        elif line.price_cents > 0:
            stacked += offer_waiting
            cold += not fan_spoke and not offer_waiting
            offer_waiting = True
    return stacked, cold


def _tone(conversation: Conversation, chatter_lines: list[Line]) -> tuple[int, bool]:
    """(tone_match, mismatched)."""
    preference = conversation.tone_preference
    if not preference or not chatter_lines:
        return 60, False
    if preference == "direct":
        mean = sum(len(line.text) for line in chatter_lines) / len(chatter_lines)
        return (30, True) if mean > DIRECT_MAX_MEAN_CHARS else (90 if mean <= 80 else 60, False)
    hits = {tone: sum(bool(p.search(line.text)) for line in chatter_lines)
            for tone, p in TONE_CUES.items()}
    if hits.get(preference, 0) > 0:
        return 90, False
    if any(n >= 2 for tone, n in hits.items() if tone != preference):
        return 30, True
    return 60, False


def score_conversation(conversation: Conversation) -> QAOutput:
    chatter_lines = [line for line in conversation.lines if not line.is_from_fan]
    breaches = _breaches(chatter_lines)
    missed = _missed_signals(conversation)
    pressure = sum(bool(PRESSURE.search(line.text)) for line in chatter_lines)
    stacked, cold = _offers(list(conversation.lines))
    tone_match, mismatched = _tone(conversation, chatter_lines)

    findings: list[tuple[int, str]] = []  # (deduction, reason)
    if breaches:
        kinds = ", ".join(dict.fromkeys(b.type for b in breaches))
        findings.append((40 + 20 * (len(breaches) - 1), f"policy breach: {kinds}"))
    if missed:
        findings.append((min(45, 15 * len(missed)),
                         f"{len(missed)} buying signal(s) left without an offer"))
    if pressure:
        findings.append((min(30, 10 * pressure), f"pressure wording in {pressure} message(s)"))
    if stacked:
        findings.append((min(30, 15 * stacked),
                         f"{stacked} offer(s) stacked without a reply from the fan"))
    if cold:
        findings.append((min(20, 10 * cold), f"{cold} offer(s) before the fan wrote"))
    if mismatched:
        findings.append((15, f"tone does not match the fan's preference "
                             f"({conversation.tone_preference})"))
    findings.sort(key=lambda f: -f[0])
    score = max(0, min(100, 100 - sum(d for d, _ in findings)))
    return QAOutput(
        score=score,
        tone_match=tone_match,
        offer_pacing=max(0, 100 - 30 * stacked - 20 * cold),
        pushiness=min(100, 25 * (pressure + stacked)),
        missed_buying_signals=missed,
        policy_breaches=breaches,
        reasons=[reason for _, reason in findings] or ["no issue found by the rules"],
    )


class RulesReviewer:
    model = RULES_MODEL
    method = "rules"

    def review(
        self, conversations: list[Conversation], *, now: Callable[[], datetime] | None = None,
        **_: object,
    ) -> ReviewOutcome:
        clock = now or (lambda: datetime.now(UTC))
        return ReviewOutcome(reviews=[
            Review(conversation=c, model=self.model, method=self.method, status=OK,
                   reviewed_at=clock(), output=score_conversation(c), cost_usd=0.0)
            for c in conversations
        ])

    def close(self) -> None:
        pass
