"""`rules-v1` on labelled chats built from the simulator's templates (what each one carries)."""

from __future__ import annotations

import random

import polars as pl
import pytest

from ofhq_pipeline.intelligence.engine import classify_creator
from ofhq_pipeline.intelligence.rules import RULES_MODEL, RulesClassifier
from ofhq_pipeline.intelligence.schema import SIGNALS, ClassifierOutput
from ofhq_pipeline.intelligence.windows import build_windows, empty_purchases
from ofhq_pipeline.source.simulator.templates import CREATOR_TEMPLATES, FAN_TEMPLATES
from ofhq_pipeline_tests.builders import CREATOR
from ofhq_pipeline_tests.intelligence.conftest import AS_OF, at

SIGNAL_TEMPLATES = [t for t in FAN_TEMPLATES if t.kind in ("signal", "pii")]
FACT_TEMPLATES = [t for t in FAN_TEMPLATES if t.fact]
SMALLTALK = [t for t in FAN_TEMPLATES if t.kind == "smalltalk"]
CREATOR_CHAT = [t for t in CREATOR_TEMPLATES if t.kind == "chat"]


def render(text: str) -> str:
    return text.replace("{creator}", "Luna").replace("{name}", "Mark").replace("{amount}", "25.00")


def frame(chats: dict[int, list[tuple[str, bool]]]) -> pl.DataFrame:
    """Fan → [(text, from_fan)] in order; message ids are fan * 1000 + position."""
    rows = [
        {"fan_id": fan, "message_id": fan * 1000 + i, "is_from_fan": from_fan,
         "created_at": at(i * 7), "text": render(text), "price_cents": 0}
        for fan, messages in chats.items() for i, (text, from_fan) in enumerate(messages)
    ]
    return pl.DataFrame(rows, schema={
        "fan_id": pl.Int64, "message_id": pl.Int64, "is_from_fan": pl.Boolean,
        "created_at": pl.Datetime("us", "UTC"), "text": pl.String, "price_cents": pl.Int64,
    })


def classify(chats: dict[int, list[tuple[str, bool]]]) -> dict[int, ClassifierOutput]:
    windows = build_windows(frame(chats), empty_purchases())
    outcome = RulesClassifier().classify_windows(windows, sorted(chats))
    assert {r.model for r in outcome.results} == {RULES_MODEL}
    return {r.fan_id: r.output for r in outcome.results}


def hot(output: ClassifierOutput) -> set[str]:
    return {s for s, score in output.intent_scores().items() if score >= 50}


def test_every_signal_template_is_detected_among_smalltalk_and_few_extras():
    rng = random.Random(1)
    chats = {
        i: [(rng.choice(SMALLTALK).text, True), (rng.choice(CREATOR_CHAT).text, False),
            (t.text, True), (rng.choice(SMALLTALK).text, True)]
        for i, t in enumerate(SIGNAL_TEMPLATES, start=1)
    }
    outputs = classify(chats)
    missed = [(t.text, t.signals) for i, t in enumerate(SIGNAL_TEMPLATES, start=1)
              if not set(t.signals) <= hot(outputs[i])]
    assert missed == []
    extras = [i for i, t in enumerate(SIGNAL_TEMPLATES, start=1) if hot(outputs[i]) - set(t.signals)]
    assert len(extras) <= 0.05 * len(SIGNAL_TEMPLATES)
    for i, t in enumerate(SIGNAL_TEMPLATES, start=1):  # the evidence is the template's message
        for signal in t.signals:
            assert getattr(outputs[i].intents, signal).evidence == [i * 1000 + 2]


def test_smalltalk_facts_and_the_creators_words_carry_no_signal():
    chats = {i: [(t.text, True)] for i, t in enumerate(SMALLTALK + FACT_TEMPLATES, start=1)}
    chats[9999] = [("how much is it? send it, do you do customs? discount?", False), ("ok", True)]
    outputs = classify(chats)
    assert {i: hot(o) for i, o in outputs.items() if hot(o)} == {}


def test_every_fact_template_yields_its_category_and_value_and_nothing_else_does():
    chats = {i: [(t.text, True)] for i, t in enumerate(FACT_TEMPLATES, start=1)}
    outputs = classify(chats)
    for i, t in enumerate(FACT_TEMPLATES, start=1):
        assert [(f.category, f.value, f.message_id) for f in outputs[i].facts] == [
            (*t.fact, i * 1000)], t.text
    others = classify({i: [(t.text, True)] for i, t in enumerate(SIGNAL_TEMPLATES + SMALLTALK, 1)})
    assert {i: o.facts for i, o in others.items() if o.facts} == {}


def test_a_labelled_persona_chat_end_to_end():
    rng = random.Random(7)
    by_signal = {s: [t for t in SIGNAL_TEMPLATES if t.signals == (s,)] for s in SIGNALS}
    personas = {}
    for fan in range(1, 41):
        signals = rng.sample(SIGNALS, 3)
        facts = rng.sample(FACT_TEMPLATES, 2)
        if facts[0].fact[0] == facts[1].fact[0]:
            facts = facts[:1]
        lines = [(rng.choice(CREATOR_CHAT).text, False)]
        for template in [rng.choice(by_signal[s]) for s in signals] + facts:
            lines += [(template.text, True), (rng.choice(SMALLTALK).text, True),
                      (rng.choice(CREATOR_CHAT).text, False)]
        personas[fan] = (lines, set(signals), {f.fact for f in facts})
    outputs = classify({fan: lines for fan, (lines, _, _) in personas.items()})
    for fan, (_, signals, facts) in personas.items():
        out = outputs[fan]
        assert signals <= hot(out)
        assert facts <= {(f.category, f.value) for f in out.facts}
        assert out.custom_interest_level == out.intents.wants_custom.score
        assert len(out.narrative_summary) <= 600
        assert ClassifierOutput.model_validate_json(out.model_dump_json()) == out
    again = classify({fan: lines for fan, (lines, _, _) in personas.items()})
    assert again == outputs  # deterministic


@pytest.mark.parametrize(("texts", "field", "expected"), [
    (["do you do customs?", "custom video with my name?"], "best_offer_type", "personalized"),
    (["lol you're hilarious", "tell me a joke"], "best_opener_type", "meme"),
    (["can you send a video?", "love your videos", "the pics too"], "content_format_preference",
     "video"),
    (["I've been feeling lonely lately"], "fan_type", "lonely"),
    (["you stupid bitch"], "fan_type", "dominant"),
])
def test_derived_fields(texts, field, expected):
    output = classify({1: [(t, True) for t in texts]})[1]
    assert getattr(output, field) == expected


def test_toxicity_and_objections():
    out = classify({1: [("money's tight, can you do it cheaper?", True), ("you stupid bitch", True),
                        ("is this really you or a bot?", True)]})[1]
    assert out.toxicity.flag and "1001" in out.toxicity.reason
    assert [o.type for o in out.objections] == ["price", "trust"]
    calm = classify({1: [("good morning", True)]})[1]
    assert calm.toxicity.flag is False and calm.toxicity.reason is None and calm.objections == []


def test_rules_run_through_the_pipeline_labelled_and_free(chats, lake):
    chats.say(1, "how much for a custom?", "my dog Max says hi")
    chats.say(1, "here you go", from_fan=False)
    chats.say(2, "hi", from_fan=False)  # a fan who never wrote: not classified
    chats.write()
    report = classify_creator(lake, CREATOR, RulesClassifier(), as_of=AS_OF, run_id="r1")
    assert (report.classified, report.silent, report.cost_usd, report.tokens) == (1, 1, 0.0, 0)
    persona = pl.read_parquet(lake.mart_path("fan_personality", CREATOR, "r1"))
    assert persona["classifier_model"].to_list() == ["rules-v1"]
    assert persona["intent_wants_custom"][0] >= 50 and persona["intent_price_question"][0] >= 50
    facts = pl.read_parquet(lake.mart_path("fan_facts", CREATOR, "r1"))
    assert facts.select("category", "value", "model").rows() == [("pet_name", "Max", "rules-v1")]
