"""Classifier answers written out by hand, for the fake OpenAI server to give.

What a test asserts about an LLM classification comes from here (or from an answer the test
writes itself), never from the rules classifier: the tests check what the pipeline makes of an
answer, so the answer is fixed and the expected rows are written out against it.
"""

from __future__ import annotations

import copy

# A complete, valid answer: a fan who has said little so far.
NEUTRAL: dict = {
    "fan_type": "romantic",
    "tone_preference": "playful",
    "emotional_drivers": ["validation"],
    "emotional_needs": ["light banter"],
    "content_format_preference": "photo",
    "length_preference": "short",
    "narrative_summary": "Friendly newcomer who says hello and little else so far.",
    "intents": {
        "ready_to_buy": {"score": 0, "evidence": []},
        "wants_custom": {"score": 0, "evidence": []},
        "price_question": {"score": 0, "evidence": []},
        "discount_request": {"score": 0, "evidence": []},
        "wants_more": {"score": 0, "evidence": []},
        "high_intent": {"score": 0, "evidence": []},
        "churn_risk": {"score": 0, "evidence": []},
        "escalation_intent": {"score": 0, "evidence": []},
        "trust_intent": {"score": 0, "evidence": []},
        "attention_intent": {"score": 0, "evidence": []},
        "status_intent": {"score": 0, "evidence": []},
        "emotional_support": {"score": 0, "evidence": []},
        "entertainment": {"score": 0, "evidence": []},
        "boundary_testing": {"score": 0, "evidence": []},
    },
    "facts": [],
    "objections": [],
    "frequency_preference": "few_times_week",
    "best_opener_type": "question",
    "best_offer_type": "behind_scenes",
    "custom_interest_level": 0,
    "toxicity": {"flag": False, "reason": None},
    "confidence": 40,
}

SIGNAL_NAMES = tuple(NEUTRAL["intents"])


def answer(*, intents: dict[str, tuple[int, list[int]]] | None = None, **fields) -> dict:
    """NEUTRAL with `fields` replaced and `intents` ({signal: (score, transcript ids)}) scored;
    every other signal stays at 0."""
    unknown = set(intents or {}) - set(SIGNAL_NAMES)
    if unknown:
        raise ValueError(f"not signals: {sorted(unknown)}")
    unknown_fields = set(fields) - set(NEUTRAL)
    if unknown_fields:
        raise ValueError(f"not output fields: {sorted(unknown_fields)}")
    out = copy.deepcopy(NEUTRAL)
    out.update(copy.deepcopy(fields))
    for signal, (score, evidence) in (intents or {}).items():
        out["intents"][signal] = {"score": score, "evidence": list(evidence)}
    return out


def neutral_output(body: dict) -> dict:
    """The tests' default answer to any request: NEUTRAL, whatever the chat says."""
    return copy.deepcopy(NEUTRAL)
