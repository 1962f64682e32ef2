"""The live LLM path with the real `openai` client against a local OpenAI-compatible server."""

from __future__ import annotations

import json

import polars as pl
import pytest

from ofhq_pipeline.intelligence.engine import classify_creator
from ofhq_pipeline.intelligence.schema import RESPONSE_FORMAT
from ofhq_pipeline.intelligence.store import load
from ofhq_pipeline_tests.builders import CREATOR
from ofhq_pipeline_tests.intelligence.answers import NEUTRAL, SIGNAL_NAMES, answer
from ofhq_pipeline_tests.intelligence.conftest import API_KEY, AS_OF, at, llm
from ofhq_pipeline_tests.intelligence.fake_openai import (
    Reply,
    Scripted,
    by_marker,
    completion,
    transcript_of,
)

# gpt-4o-mini's list prices (OpenAI's pricing page), USD per million tokens: $0.15 input, $0.075
# cached input, $0.60 output. Every expected cost below is worked out by hand from them.

PII = {
    "email": "mike.r88@example.com",
    "phone": "+1 (555) 013-4477",
    "local phone": "555-0199",
    "card": "4111 1111 1111 1111",
    "url": "https://instagram.com/dave_rides",
    "bare url": "www.example.org/profile/tom",
}


def run(lake, classifier, run_id="r1", **kwargs):
    return classify_creator(lake, CREATOR, classifier, as_of=AS_OF, run_id=run_id, **kwargs)


def rows(lake, table="fan_classifications", run_id="r1") -> dict[int, dict]:
    frame = pl.read_parquet(lake.mart_path(table, CREATOR, run_id))
    return {r["fan_id"]: r for r in frame.iter_rows(named=True)}


def not_valid(**change) -> dict:
    """A hand-written answer with one field the schema refuses."""
    return {**NEUTRAL, **change}


# Fan 1 asks about a custom and mentions his dog: the model's answer, written out by hand, with
# transcript ids (1: the question, 2: the dog).
CUSTOM_BUYER = answer(
    fan_type="transactional", tone_preference="direct", emotional_drivers=["excitement"],
    emotional_needs=["personal attention"], content_format_preference="video",
    length_preference="short",
    narrative_summary="Asks what a custom costs before anything else; has a dog called Max.",
    intents={"wants_custom": (80, [1]), "price_question": (70, [1])},
    facts=[{"category": "pet_name", "value": "Max", "confidence": 85, "message_id": 2}],
    objections=[{"type": "price", "text": "wants to know the price first"}],
    frequency_preference="daily", best_opener_type="topic_hook", best_offer_type="personalized",
    custom_interest_level=80, confidence=75,
)


def test_request_shape_and_schema(chats, lake, fake, openai_url):
    chats.say(1, "how much for a custom?", "my dog Max says hi")
    chats.write()
    run(lake, llm(openai_url))
    [body] = fake.chat_requests
    assert body["model"] == "gpt-4o-mini"
    assert body["response_format"] == RESPONSE_FORMAT
    assert body["response_format"]["json_schema"]["strict"] is True
    assert "Previous summary: none" in body["messages"][1]["content"]
    assert "1 F: how much for a custom?" in body["messages"][1]["content"]


def test_the_answer_becomes_the_fans_rows_and_its_usage_his_cost(chats, lake, fake, openai_url):
    question, dog = chats.say(1, "how much for a custom?", "my dog Max says hi")
    chats.write()
    fake.respond = by_marker({"how much for a custom?": Scripted(CUSTOM_BUYER, 1_234, 321)})
    report = run(lake, llm(openai_url))

    row = rows(lake)[1]
    assert (row["status"], row["model"], row["method"], row["attempts"]) == (
        "ok", "gpt-4o-mini", "live", 1)
    assert (row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"]) == (1_234, 321, 0)
    # 1,234 x $0.15/M + 321 x $0.60/M = $0.0001851 + $0.0001926
    assert row["cost_usd"] == pytest.approx(0.0003777)
    assert (report.cost_usd, report.tokens) == (pytest.approx(0.0003777), 1_555)

    persona = rows(lake, "fan_personality")[1]
    expected = {
        "fan_type": "transactional", "tone_preference": "direct",
        "emotional_drivers": ["excitement"], "emotional_needs": ["personal attention"],
        "content_format_preference": "video", "length_preference": "short",
        "narrative_summary": "Asks what a custom costs before anything else; has a dog called Max.",
        "frequency_preference": "daily", "best_opener_type": "topic_hook",
        "best_offer_type": "personalized", "custom_interest_level": 80,
        "toxicity_flag": False, "toxicity_reason": None,
        **{f"intent_{s}": 0 for s in SIGNAL_NAMES},
        "intent_wants_custom": 80, "intent_price_question": 70,
        "classifier_model": "gpt-4o-mini", "classifier_confidence": 75,
        "last_objection": "price", "last_objection_text": "wants to know the price first",
        "top_objection": "price",
    }
    assert {k: persona[k] for k in expected} == expected

    prefs = rows(lake, "fan_preferences")[1]
    assert {k: prefs[k] for k in (
        "content_format_preference", "length_preference", "frequency_preference",
        "best_opener_type", "best_offer_type", "tone_preference", "custom_interest_level",
        "classifier_model")} == {
        "content_format_preference": "video", "length_preference": "short",
        "frequency_preference": "daily", "best_opener_type": "topic_hook",
        "best_offer_type": "personalized", "tone_preference": "direct",
        "custom_interest_level": 80, "classifier_model": "gpt-4o-mini"}

    events = rows_list(lake, "fan_intent_events", "r1")
    assert sorted((e["signal"], e["score"], e["previous_score"], e["evidence_message_ids"])
                  for e in events) == [
        ("price_question", 70, None, [question]), ("wants_custom", 80, None, [question])]

    [fact] = rows_list(lake, "fan_facts", "r1")
    assert {k: fact[k] for k in ("fan_id", "category", "value", "value_norm", "confidence",
                                 "source_message_id", "first_seen_at", "last_seen_at",
                                 "model")} == {
        "fan_id": 1, "category": "pet_name", "value": "Max", "value_norm": "max",
        "confidence": 85, "source_message_id": dog,  # transcript id 2, mapped back
        "first_seen_at": at(1), "last_seen_at": at(1), "model": "gpt-4o-mini"}


def test_cached_prompt_tokens_are_billed_at_the_cached_price(chats, lake, fake, openai_url):
    chats.say(1, "COLD hello")
    chats.say(2, "WARM hi")
    chats.write()
    fake.respond = by_marker({
        "COLD": Scripted(NEUTRAL, 2_000, 300),
        "WARM": Scripted(NEUTRAL, 2_000, 300, cached_tokens=1_024),
    })
    run(lake, llm(openai_url))
    cold, warm = rows(lake)[1], rows(lake)[2]
    assert (cold["cached_tokens"], warm["cached_tokens"]) == (0, 1_024)
    # 2,000 x $0.15/M + 300 x $0.60/M = $0.0003 + $0.00018
    assert cold["cost_usd"] == pytest.approx(0.00048)
    # 976 x $0.15/M + 1,024 x $0.075/M + 300 x $0.60/M = $0.0001464 + $0.0000768 + $0.00018
    assert warm["cost_usd"] == pytest.approx(0.0004032)


def test_schema_invalid_answer_is_retried_once_then_failed_while_others_succeed(
        chats, lake, fake, openai_url):
    chats.say(1, "BAD-FAN how much?")
    chats.say(2, "SECOND-CHANCE hello")
    chats.say(3, "good fan")
    chats.write()
    second_chance = answer(narrative_summary="Came back to say hello.", confidence=55)
    fake.respond = by_marker({
        "BAD-FAN": [Scripted(not_valid(fan_type="alien"), 1_000, 400),
                    Scripted(not_valid(fan_type="alien"), 1_500, 410)],
        "SECOND-CHANCE": [Scripted(not_valid(confidence=150), 900, 380),
                          Scripted(second_chance, 1_400, 390)],
        "good fan": Scripted(NEUTRAL, 800, 350),
    })
    report = run(lake, llm(openai_url))
    assert len(fake.requests_for("BAD-FAN")) == 2  # once, and once more: no third time
    retry = fake.requests_for("BAD-FAN")[1]["messages"]
    assert [m["role"] for m in retry] == ["system", "user", "assistant", "user"]
    assert "fan_type" in retry[3]["content"]
    result = rows(lake)
    assert result[1]["status"] == "failed" and "fan_type" in result[1]["error"]
    assert result[1]["attempts"] == 2 and result[1]["output_json"] is None
    # both attempts are paid for, and counted: 1,000 + 1,500 prompt and 400 + 410 completion
    # tokens, 2,500 x $0.15/M + 810 x $0.60/M = $0.000375 + $0.000486
    assert (result[1]["prompt_tokens"], result[1]["completion_tokens"]) == (2_500, 810)
    assert result[1]["cost_usd"] == pytest.approx(0.000861)
    assert result[2]["status"] == "ok" and result[2]["attempts"] == 2
    # 2,300 x $0.15/M + 770 x $0.60/M = $0.000345 + $0.000462
    assert (result[2]["prompt_tokens"], result[2]["completion_tokens"]) == (2_300, 770)
    assert result[2]["cost_usd"] == pytest.approx(0.000807)
    assert json.loads(result[2]["output_json"])["narrative_summary"] == "Came back to say hello."
    assert result[3]["status"] == "ok" and result[3]["attempts"] == 1
    assert (report.classified, report.failed) == (2, 1)
    # $0.000861 + $0.000807 + (800 x $0.15/M + 350 x $0.60/M = $0.00033)
    assert (report.cost_usd, report.tokens) == (pytest.approx(0.001998), 7_530)
    assert set(rows(lake, "fan_personality")) == {2, 3}

    # the failed window is tried again next run (max_failed_attempts=2), then left alone
    run(lake, llm(openai_url), run_id="r2")
    run(lake, llm(openai_url), run_id="r3")
    assert len(fake.requests_for("BAD-FAN")) == 4
    assert len(fake.requests_for("good fan")) == 1


def test_refusal_is_recorded_as_failed_with_its_reason_and_not_retried(
        chats, lake, fake, openai_url):
    chats.say(1, "REFUSE-ME hi")
    chats.say(2, "fine")
    chats.write()
    fake.respond = lambda body, n: (completion(body, refusal="I can't help with that.")
                                    if "REFUSE-ME" in transcript_of(body) else None)
    report = run(lake, llm(openai_url))
    assert len(fake.requests_for("REFUSE-ME")) == 1
    assert rows(lake)[1]["status"] == "failed"
    assert rows(lake)[1]["error"] == "refused: I can't help with that."
    assert rows(lake)[2]["status"] == "ok" and (report.classified, report.failed) == (1, 1)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limits_and_server_errors_are_retried_then_succeed(
        chats, lake, fake, openai_url, status):
    chats.say(1, "hello there")
    chats.write()
    fake.respond = lambda body, n: (
        Reply(status, {"error": {"message": "slow down", "type": "x"}}, {"retry-after-ms": "10"})
        if n <= 2 else None)
    run(lake, llm(openai_url, max_retries=2))
    assert len(fake.chat_requests) == 3 and rows(lake)[1]["status"] == "ok"


def test_retries_are_configurable_and_exhausted_retries_fail_only_that_fan(
        chats, lake, fake, openai_url):
    chats.say(1, "THROTTLED hello")
    chats.say(2, "fine")
    chats.write()
    fake.respond = lambda body, n: (
        Reply(429, {"error": {"message": "rate limited"}}, {"retry-after-ms": "10"})
        if "THROTTLED" in transcript_of(body) else None)
    report = run(lake, llm(openai_url, max_retries=0))
    assert len(fake.requests_for("THROTTLED")) == 1
    assert rows(lake)[1]["status"] == "failed" and "RateLimitError" in rows(lake)[1]["error"]
    assert rows(lake)[2]["status"] == "ok" and report.failed == 1


def test_an_unchanged_window_sends_nothing_and_a_changed_one_only_itself(
        chats, lake, fake, openai_url):
    chats.say(1, "hello")
    chats.say(2, "hi there")
    chats.write()
    fake.respond = by_marker({
        "hello": Scripted(NEUTRAL, 1_000, 300),
        "hi there": Scripted(answer(narrative_summary="Says hi and little else."), 1_000, 300),
    })
    first = run(lake, llm(openai_url))
    assert (first.classified, len(fake.chat_requests)) == (2, 2)
    second = run(lake, llm(openai_url), run_id="r2")
    assert len(fake.chat_requests) == 2  # zero requests on the second run
    assert (second.classified, second.skipped_unchanged, second.tokens) == (0, 2, 0)
    assert len(rows(lake, run_id="r2")) == 2  # the marts still carry every fan
    chats.say(2, "I'm from Texas")
    chats.write()
    third = run(lake, llm(openai_url), run_id="r3")
    assert len(fake.chat_requests) == 3 and (third.classified, third.skipped_unchanged) == (1, 1)
    # the rolling summary: the new prompt builds on the previous one
    assert fake.chat_requests[-1]["messages"][1]["content"].startswith(
        "Previous summary: Says hi and little else.\n\nChat:\n")
    assert load(lake, "fan_classifications", CREATOR).filter(pl.col("fan_id") == 2).height == 2


def test_no_personal_identifier_leaves_the_machine(chats, lake, fake, openai_url):
    chats.say(1, *[f"reach me: {value}" for value in PII.values()])
    chats.say(1, f"<p>all at once {' / '.join(PII.values())}</p>", from_fan=False)
    chats.write()
    run(lake, llm(openai_url))
    assert fake.bodies
    sent = b"\n".join(fake.bodies).decode()
    for kind, value in PII.items():
        assert value not in sent, kind
        assert value.replace(" ", "") not in sent.replace(" ", ""), kind
    assert "mike.r88" not in sent and "dave_rides" not in sent and "4111" not in sent
    for placeholder in ("[email]", "[phone]", "[card]", "[url]"):
        assert placeholder in sent
    assert API_KEY not in sent  # the key travels in a header only


def test_budget_caps_classifications_and_dollars_the_rest_stay_pending(
        chats, lake, fake, openai_url):
    for fan in range(1, 6):
        chats.say(fan, f"fan {fan} says hi")
    chats.write()
    report = run(lake, llm(openai_url, max_classifications=2))
    assert (report.classified, report.pending_budget, len(fake.chat_requests)) == (2, 3, 2)
    assert "max_classifications_per_run" in report.stop_reason
    assert len(rows(lake)) == 2  # pending fans have no row: they are simply not done yet
    rest = run(lake, llm(openai_url), run_id="r2")
    assert (rest.classified, rest.skipped_unchanged, len(fake.chat_requests)) == (3, 2, 5)

    chats.say(1, "something new")
    chats.write()
    broke = run(lake, llm(openai_url, max_usd=0.00001), run_id="r3")
    assert (broke.classified, broke.pending_budget, len(fake.chat_requests)) == (0, 1, 5)
    assert "max_usd_per_run" in broke.stop_reason


def test_dollar_budget_counts_what_was_spent(chats, lake, fake, openai_url):
    for fan in range(1, 11):
        chats.say(fan, f"fan {fan} says hi")
    chats.write()
    # each answer costs 800 x $0.15/M + 300 x $0.60/M = $0.0003
    fake.respond = by_marker({"says hi": Scripted(NEUTRAL, 800, 300)})
    report = run(lake, llm(openai_url, max_usd=0.0021, concurrency=1))
    # Before sending, a fan reserves his request's estimate (a short chat's prompt and the
    # expected answer: between $0.0003 and $0.0006 here) on top of what was spent: the sixth
    # fan still fits ($0.0015 spent), the seventh does not ($0.0018 spent).
    assert (report.classified, report.pending_budget) == (6, 4)
    assert report.cost_usd == pytest.approx(6 * 0.0003)


def test_concurrency_is_bounded(chats, lake, fake, openai_url):
    for fan in range(1, 13):
        chats.say(fan, f"fan {fan}")
    chats.write()
    fake.delay = 0.15
    report = run(lake, llm(openai_url, concurrency=3))
    assert report.classified == 12
    assert fake.max_in_flight == 3


def test_an_authentication_error_stops_sending_and_never_shows_the_key(
        chats, lake, fake, openai_url):
    for fan in range(1, 6):
        chats.say(fan, f"fan {fan}")
    chats.write()
    fake.respond = lambda body, n: Reply(
        401, {"error": {"message": f"Incorrect API key provided: {API_KEY}", "type": "auth"}})
    report = run(lake, llm(openai_url, concurrency=1))
    assert len(fake.chat_requests) == 1
    assert (report.failed, report.pending_budget) == (1, 4)
    assert "AuthenticationError" in report.stop_reason
    [failed] = [r for r in rows(lake).values() if r["status"] == "failed"]
    assert "AuthenticationError" in failed["error"] and "***" in failed["error"]
    assert API_KEY not in failed["error"] and API_KEY not in json.dumps(report.metadata())


def test_intent_events_and_facts_are_updated_never_duplicated(chats, lake, fake, openai_url):
    [asked, _] = chats.say(1, "how much?", "my dog Max says hi")
    chats.write()
    first = answer(
        intents={"price_question": (65, [1]), "wants_custom": (55, [1]), "churn_risk": (30, [])},
        facts=[{"category": "pet_name", "value": "Max", "confidence": 80, "message_id": 2}])
    # the second window holds all four messages (transcript ids 1-4)
    second = answer(
        intents={"price_question": (85, [1, 3]), "wants_custom": (55, [1]),
                 "churn_risk": (45, [])},
        facts=[{"category": "pet_name", "value": "max", "confidence": 90, "message_id": 4}])
    fake.respond = by_marker({"stealing my socks": Scripted(second, 1_000, 300),
                              "my dog Max says hi": Scripted(first, 1_000, 300)})
    run(lake, llm(openai_url))
    events = rows_list(lake, "fan_intent_events", "r1")
    assert sorted((e["signal"], e["score"], e["previous_score"]) for e in events) == [
        ("price_question", 65, None), ("wants_custom", 55, None)]  # churn_risk: below 50
    asked_again, socks = chats.say(1, "what's the price?", "my dog Max keeps stealing my socks")
    chats.write()
    run(lake, llm(openai_url), run_id="r2")
    events = rows_list(lake, "fan_intent_events", "r2")
    # price_question rose: a new event; wants_custom stayed at 55 and churn_risk under 50: none
    assert sorted((e["signal"], e["score"], e["previous_score"], e["evidence_message_ids"])
                  for e in events) == [
        ("price_question", 65, None, [asked]), ("price_question", 85, 65, [asked, asked_again]),
        ("wants_custom", 55, None, [asked])]
    [fact] = rows_list(lake, "fan_facts", "r2")  # "Max" and "max": one fact, updated
    assert {k: fact[k] for k in ("category", "value", "value_norm", "confidence",
                                 "source_message_id", "first_seen_at", "last_seen_at")} == {
        "category": "pet_name", "value": "max", "value_norm": "max", "confidence": 90,
        "source_message_id": socks, "first_seen_at": at(1), "last_seen_at": at(3)}
    history = rows_list(lake, "fan_classifications", "r2")
    assert [r["is_latest"] for r in history] == [False, True]


def rows_list(lake, table, run_id):
    return pl.read_parquet(lake.mart_path(table, CREATOR, run_id)).to_dicts()
