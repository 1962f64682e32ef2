"""`qa-rules-v1` on labelled conversations: what a reviewer would say about each."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ofhq_pipeline.chatters.conversations import Conversation, Line, PurchaseLine
from ofhq_pipeline.chatters.qa_rules import RULES_MODEL, RulesReviewer, score_conversation
from ofhq_pipeline.intelligence.redact import clean_text
from ofhq_pipeline_tests.chatters.conftest import at


def convo(*lines: tuple, tone: str | None = None, bought: tuple = ()) -> Conversation:
    """Lines as (who, text) or (who, text, price dollars), a minute apart; message ids 1001..."""
    built = tuple(
        Line(i, 1000 + i, who == "F", at(i), clean_text(text), int(round(price * 100)))
        for i, (who, text, *rest) in enumerate(lines, start=1)
        for price in [rest[0] if rest else 0]
    )
    purchases = tuple(PurchaseLine(at(minute), kind, cents) for minute, kind, cents in bought)
    return Conversation("acct_test", "ana", 7, date(2026, 10, 1), built, purchases, tone)


GOOD = convo(
    ("F", "hey gorgeous, how was your day?"),
    ("C", "haha long day but better now you're here 😉"),
    ("F", "how much for the beach set?"),
    ("C", "it's $25 for 12 pics, want it?"),
    ("F", "yes send it"),
    ("C", "sending it now, enjoy", 25),
    tone="playful", bought=((7, "message", 2500),),
)
PUSHY = convo(
    ("C", "new video for you", 30),
    ("C", "unlock it now, last chance!!", 30),
    ("C", "why haven't you opened it? don't be cheap", 30),
    ("F", "I'm busy"),
)
OFF_PLATFORM = convo(
    ("F", "do you have snap?"),
    ("C", "add me on snap: ana.private, or mail me at ana.private@example.com"),
    ("C", "or pay me directly on cashapp and skip the fees"),
)
MISSED = convo(
    ("F", "how much for a custom video?"),
    ("C", "aww you're sweet"),
    ("F", "lol ok"),
    ("C", "what are you up to tonight?"),
)
ROMANTIC_TO_PLAYFUL_FAN = convo(
    ("F", "hahaha you're wild"),
    ("C", "I missed you so much babe"),
    ("F", "lol"),
    ("C", "my heart is yours, my love"),
    tone="playful",
)


def test_a_good_conversation_scores_high():
    out = score_conversation(GOOD)
    assert out.score == 100
    assert (out.tone_match, out.offer_pacing, out.pushiness) == (90, 100, 0)
    assert out.policy_breaches == [] and out.missed_buying_signals == []
    assert out.reasons == ["no issue found by the rules"]


def test_stacked_pressured_offers_are_pushy():
    out = score_conversation(PUSHY)
    # 2 pressure lines (−20), 2 stacked offers (−30), 1 offer before the fan wrote (−10)
    assert out.score == 40
    assert (out.pushiness, out.offer_pacing) == (100, 100 - 60 - 20)
    assert out.reasons[0] == "2 offer(s) stacked without a reply from the fan"
    assert "pressure wording in 2 message(s)" in out.reasons
    assert "1 offer(s) before the fan wrote" in out.reasons


def test_policy_breaches_name_their_messages():
    out = score_conversation(OFF_PLATFORM)
    assert [(b.type, b.message_id) for b in out.policy_breaches] == [
        ("off_platform", 1002), ("payment_outside", 1003)]
    assert out.score == 100 - 40 - 20
    assert out.reasons[0] == "policy breach: off_platform, payment_outside"
    # the rules read the redacted text: the address became a placeholder, itself a breach cue
    assert "[email]" in OFF_PLATFORM.lines[1].text


def test_a_buying_signal_left_without_an_offer_is_missed():
    out = score_conversation(MISSED)
    assert out.missed_buying_signals == [1001]
    assert out.score == 85
    assert out.reasons == ["1 buying signal(s) left without an offer"]
    # the same question answered with a price is not missed
    answered = convo(("F", "how much for a custom video?"), ("C", "customs start at $50"))
    assert score_conversation(answered).missed_buying_signals == []
    # nor one followed by a purchase
    bought = convo(("F", "i'll take it"), ("C", "yay"), bought=((3, "tip", 1000),))
    assert score_conversation(bought).missed_buying_signals == []


@pytest.mark.parametrize(("tone", "tone_match", "score"), [
    ("playful", 30, 85),  # romantic lines to a playful fan: a mismatch
    ("romantic", 90, 100),
    (None, 60, 100),  # unknown preference: not judged
])
def test_tone_against_the_fans_preference(tone, tone_match, score):
    conversation = Conversation(**{**ROMANTIC_TO_PLAYFUL_FAN.__dict__, "tone_preference": tone})
    out = score_conversation(conversation)
    assert (out.tone_match, out.score) == (tone_match, score)


def test_direct_fans_want_short_lines():
    long_winded = convo(("F", "price?"), ("C", "so " * 80 + "it's $20"), tone="direct")
    out = score_conversation(long_winded)
    assert (out.tone_match, out.score) == (30, 85)


def test_the_reviewer_labels_its_rows():
    outcome = RulesReviewer().review([GOOD, PUSHY], now=lambda: at(0) + timedelta(days=1))
    assert [(r.model, r.method, r.status, r.cost_usd, r.prompt_tokens) for r in outcome.reviews] \
        == [(RULES_MODEL, "rules", "ok", 0.0, 0)] * 2
    assert [r.output.score for r in outcome.reviews] == [100, 40]
