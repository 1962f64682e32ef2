"""The live LLM path with the real `openai` client against a local OpenAI-compatible server."""

from __future__ import annotations

import json

import polars as pl
import pytest

from ofhq_pipeline.intelligence.engine import classify_creator
from ofhq_pipeline.intelligence.schema import RESPONSE_FORMAT
from ofhq_pipeline.intelligence.store import load
from ofhq_pipeline_tests.builders import CREATOR
from ofhq_pipeline_tests.intelligence.conftest import API_KEY, AS_OF, llm
from ofhq_pipeline_tests.intelligence.fake_openai import (
    Reply,
    completion,
    realistic_output,
    transcript_of,
)

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


def invalid(body, **change) -> dict:
    answer = {**realistic_output(body), **change}
    return completion(body, json.dumps(answer))


def test_request_shape_schema_and_cost(chats, lake, fake, openai_url):
    chats.say(1, "how much for a custom?", "my dog Max says hi")
    chats.write()
    report = run(lake, llm(openai_url))
    [body] = fake.chat_requests
    assert body["model"] == "gpt-4o-mini"
    assert body["response_format"] == RESPONSE_FORMAT
    assert body["response_format"]["json_schema"]["strict"] is True
    assert "Previous summary: none" in body["messages"][1]["content"]
    assert "1 F: how much for a custom?" in body["messages"][1]["content"]
    row = rows(lake)[1]
    usage = completion(body)["usage"]  # the server's usage for this very request
    assert (row["prompt_tokens"], row["completion_tokens"]) == (
        usage["prompt_tokens"], usage["completion_tokens"])
    expected = (usage["prompt_tokens"] * 0.15 + usage["completion_tokens"] * 0.60) / 1e6
    assert row["cost_usd"] == pytest.approx(expected)
    assert report.cost_usd == pytest.approx(expected) and report.tokens == usage["total_tokens"]
    assert row["status"] == "ok" and row["model"] == "gpt-4o-mini" and row["method"] == "live"
    assert row["cost_usd"] < 0.0005  # the anchor, on a typical short chat
    facts = rows(lake, "fan_facts")[1]
    assert (facts["category"], facts["value"], facts["source_message_id"]) == (
        "pet_name", "Max", chats.next_id)  # transcript id 2 mapped back to the message id


def test_cached_prompt_tokens_are_billed_at_the_cached_price(chats, lake, fake, openai_url):
    chats.say(1, "hello")
    chats.say(2, "hi")
    chats.write()
    run(lake, llm(openai_url, concurrency=1))
    first, second = sorted(rows(lake).values(), key=lambda r: r["cached_tokens"])
    assert first["cached_tokens"] == 0 and second["cached_tokens"] >= 1024
    p, c, k = second["prompt_tokens"], second["completion_tokens"], second["cached_tokens"]
    assert second["cost_usd"] == pytest.approx(((p - k) * 0.15 + k * 0.075 + c * 0.60) / 1e6)


def test_schema_invalid_answer_is_retried_once_then_failed_while_others_succeed(
        chats, lake, fake, openai_url):
    chats.say(1, "BAD-FAN how much?")
    chats.say(2, "SECOND-CHANCE hello")
    chats.say(3, "good fan")
    chats.write()

    def respond(body, n):
        text = transcript_of(body)
        if "BAD-FAN" in text:
            return invalid(body, fan_type="alien")
        if "SECOND-CHANCE" in text and n == 1:
            return invalid(body, confidence=150)
        return None

    fake.respond = respond
    report = run(lake, llm(openai_url))
    assert len(fake.requests_for("BAD-FAN")) == 2  # once, and once more: no third time
    retry = fake.requests_for("BAD-FAN")[1]["messages"]
    assert [m["role"] for m in retry] == ["system", "user", "assistant", "user"]
    assert "fan_type" in retry[3]["content"]
    result = rows(lake)
    assert result[1]["status"] == "failed" and "fan_type" in result[1]["error"]
    assert result[1]["attempts"] == 2 and result[1]["output_json"] is None
    assert result[1]["prompt_tokens"] > 0  # both attempts are paid for, and counted
    assert result[2]["status"] == "ok" and result[2]["attempts"] == 2
    assert result[3]["status"] == "ok" and result[3]["attempts"] == 1
    assert (report.classified, report.failed) == (2, 1)
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
    previous = json.loads(load(lake, "fan_classifications", CREATOR)
                          .filter(pl.col("fan_id") == 2)["output_json"][0])["narrative_summary"]
    assert f"Previous summary: {previous}" in fake.chat_requests[-1]["messages"][1]["content"]


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
    report = run(lake, llm(openai_url, max_usd=0.0021, concurrency=1))
    assert 3 <= report.classified < 10 and report.pending_budget == 10 - report.classified
    assert report.cost_usd <= 0.0021


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
    chats.say(1, "how much?", "my dog Max says hi")
    chats.write()
    run(lake, llm(openai_url))
    events = rows_list(lake, "fan_intent_events", "r1")
    assert [(e["signal"], e["previous_score"]) for e in events] == [("price_question", None)]
    chats.say(1, "what's the price?", "my dog Max keeps stealing my socks")
    chats.write()
    run(lake, llm(openai_url), run_id="r2")
    events = rows_list(lake, "fan_intent_events", "r2")
    assert [(e["signal"], e["score"], e["previous_score"]) for e in events] == [
        ("price_question", 65, None), ("price_question", 85, 65)]  # it rose: a new event
    facts = rows_list(lake, "fan_facts", "r2")
    assert len(facts) == 1 and facts[0]["value"] == "Max"
    assert facts[0]["first_seen_at"] < facts[0]["last_seen_at"]
    assert facts[0]["source_message_id"] == chats.next_id
    history = rows_list(lake, "fan_classifications", "r2")
    assert [r["is_latest"] for r in history] == [False, True]


def rows_list(lake, table, run_id):
    return pl.read_parquet(lake.mart_path(table, CREATOR, run_id)).to_dicts()
