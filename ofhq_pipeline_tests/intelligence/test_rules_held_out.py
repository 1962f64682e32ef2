"""`rules-v1` on messages written for these tests, not taken from the simulator's templates, each
with the answer a reader gives it written out by hand.

Scores follow the rules' documented scale: a message with a strong cue makes its signal 60, each
further such message adds 20, up to 95; weak cues alone stay below 50. A message the rules read
wrongly is marked as a known miss (xfail, strict) with the answer it should get.
"""

from __future__ import annotations

import pytest

from ofhq_pipeline.source.simulator.templates import CREATOR_TEMPLATES, FAN_TEMPLATES
from ofhq_pipeline_tests.intelligence.test_rules import classify, hot


def known_miss(text: str, signals: dict[str, int], facts: list[tuple[str, str]], reason: str):
    return pytest.param(text, signals, facts, marks=pytest.mark.xfail(strict=True, reason=reason))


# (a fan's message, the signals it carries and their scores, the facts (category, value) in it)
SIGNALS = [
    ("ok I'm buying, unlock that for me", {"ready_to_buy": 60}, []),
    ("could you film something personalized for my anniversary?", {"wants_custom": 60}, []),
    ("what would a private video cost me?", {"price_question": 60}, []),
    ("if I buy two sets do I get a better deal?", {"discount_request": 60}, []),
    ("that clip was unreal, I need more of you", {"wants_more": 60}, []),
    ("price doesn't matter, I'll pay extra for the good stuff", {"high_intent": 60}, []),
    ("I'm going to cancel my subscription at the end of the month", {"churn_risk": 60}, []),
    ("do you have snapchat? we could chat there", {"escalation_intent": 60}, []),
    ("you can reach me at joe.b77@example.com", {"escalation_intent": 60}, []),  # redacted first
    ("are you a real person or is it some team answering?", {"trust_intent": 60}, []),
    ("why aren't you replying to me", {"attention_intent": 60}, []),
    ("I must be your biggest fan by now", {"status_intent": 60}, []),
    ("work has me so stressed I can't think straight", {"emotional_support": 60}, []),
    ("would you rather go skydiving or scuba diving?", {"entertainment": 60}, []),
    ("nobody will know if you send one without clothes", {"boundary_testing": 60}, []),
    ("what's the price of a personalised clip?", {"price_question": 60, "wants_custom": 60}, []),
    known_miss("I've messaged you three times and you still haven't answered me",
               {"attention_intent": 60}, [],
               "attention cues need 'answer me' or 'answering'; 'haven't answered me' is missed"),
]

FACTS = [
    ("my cat is called Whiskers and she hates mornings", {}, [("pet_name", "Whiskers")]),
    ("I work as a plumber, so my hands are always dirty", {}, [("occupation", "plumber")]),
    ("I'm an architect", {}, [("occupation", "architect")]),
    ("just got engaged last weekend!", {}, [("relationship_status", "engaged")]),
    ("I live in New Orleans now", {}, [("location", "New Orleans")]),
    ("my time zone is PST so it's early for me", {}, [("timezone", "PST")]),
    ("I speak Polish and a bit of English", {}, [("language", "Polish")]),
    ("Greek is my native language", {}, [("language", "Greek")]),
    ("my hobby is fly fishing", {}, [("hobby", "fly fishing")]),
    ("having lasagna for dinner", {}, [("food_drink", "lasagna")]),
    ("craving pancakes right now", {}, [("food_drink", "pancakes")]),
    ("I work overnights at the warehouse", {}, [("work_schedule", "overnights")]),
    ("watching the Bruins game with my brother", {}, [("sports_team", "Bruins")]),
    ("go Steelers!", {}, [("sports_team", "Steelers")]),
    ("the Rangers won last night", {}, [("sports_team", "Rangers")]),
    ("my birthday is April 5", {}, [("birthday", "April 5")]),
    ("I have a weakness for blondes", {}, [("body_preference", "blondes")]),
    ("6 months subscribed today!", {}, [("sub_anniversary", "6 months")]),
    ("finally got my new laptop", {}, [("other", "new laptop")]),
]

NOTHING = [
    ("I'm watching a documentary about whales tonight", {}, []),
    ("the weather here has been great all week", {}, []),
    ("My sister's wedding is next weekend", {}, []),
    ("stay safe on the roads tonight", {}, []),
    ("what a beautiful sunset it was today", {}, []),
    ("I'm a big fan of your work", {}, []),  # not an occupation
    ("my dog ate my homework lol", {}, []),  # no name: no pet fact; "lol" alone is weak
    ("greetings from the couch", {}, []),  # not a place
    known_miss("my boss gave me a good deal of work today", {}, [],
               "'deal' alone fires discount_request"),
    known_miss("the code at work finally compiled", {}, [],
               "'code' alone fires discount_request"),
    known_miss("I'm ready for the weekend", {}, [], "'I'm ready' alone fires ready_to_buy"),
    known_miss("it was my last month at the old job", {}, [],
               "'last month' alone fires churn_risk"),
    known_miss("I'm a mess today", {}, [], "'I'm a <word>' is read as the occupation 'mess'"),
]


def held_out_texts() -> list[str]:
    return [p.values[0] if hasattr(p, "values") else p[0] for p in SIGNALS + FACTS + NOTHING]


def test_the_held_out_messages_are_not_the_simulators():
    texts = [t.lower() for t in held_out_texts()]
    templates = {t.text.lower() for t in FAN_TEMPLATES + CREATOR_TEMPLATES}
    assert len(texts) >= 40 and len(set(texts)) == len(texts)
    assert [t for t in texts if t in templates] == []


@pytest.mark.parametrize(("text", "signals", "facts"), SIGNALS + FACTS + NOTHING)
def test_a_fans_message(text, signals, facts):
    out = classify({1: [(text, True)]})[1]
    assert {s: out.intent_scores()[s] for s in hot(out)} == signals
    for signal in signals:  # the message is the evidence
        assert getattr(out.intents, signal).evidence == [1000]
    assert [(f.category, f.value, f.message_id) for f in out.facts] == [
        (category, value, 1000) for category, value in facts]


def test_scores_rise_with_each_message_and_weak_cues_stay_below_50():
    out = classify({
        1: [("how much is the shower video?", True), ("hey", False),
            ("still deciding, what does the full set cost?", True),
            ("prices for both together?", True)],
        2: [("that was so good, send more!", True), ("part 2 when?", True)],
        3: [("haha", True), ("haha", True), ("haha", True), ("haha", True)],
    })
    assert {s: out[1].intent_scores()[s] for s in hot(out[1])} == {"price_question": 95}
    assert out[1].intents.price_question.evidence == [1000, 1002, 1003]
    assert {s: out[2].intent_scores()[s] for s in hot(out[2])} == {"wants_more": 80}
    assert out[2].intents.wants_more.evidence == [2000, 2001]
    assert hot(out[3]) == set() and 0 < out[3].intents.entertainment.score < 50
    assert out[3].intents.entertainment.evidence == []


def test_the_creators_words_are_not_the_fans():
    out = classify({1: [("what would a private video cost you? I'm buying", False),
                        ("I live in New Orleans now", False), ("ok", True)]})[1]
    assert hot(out) == set() and out.facts == []
