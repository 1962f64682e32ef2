"""Conversation QA through the real `openai` client against a local OpenAI-compatible server:
sampling, the JSON schema, redaction, cost, retries, never reviewing a conversation twice."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import polars as pl
import pytest

from ofhq_pipeline.chatters.qa import QASettings, load_reviews, review_creator
from ofhq_pipeline.chatters.qa_llm import LLMReviewer
from ofhq_pipeline.chatters.qa_rules import RULES_MODEL, RulesReviewer
from ofhq_pipeline.lake import atomic_write
from ofhq_pipeline.llm.chat import LLMSettings
from ofhq_pipeline_tests.builders import CREATOR, T0
from ofhq_pipeline_tests.chatters.conftest import rows, shift_set
from ofhq_pipeline_tests.intelligence.fake_openai import completion, transcript_of
from ofhq_pipeline_tests.intelligence.fixtures import API_KEY

AS_OF = T0 + timedelta(days=1, hours=12)  # 2026-10-02 12:00: 2026-10-01 is a completed day
SHIFTS = shift_set(("ana", 0, 720), ("ben", 720, 1440), ("cy", 1440, 2880))
LINE = re.compile(r"^(\d+) \d\d:\d\d ([FC])(?: \$[\d.]+)?: (.*)$")
SECRETS = ["jane.doe@example.com", "013-4477", "5550134477", "onlyfans.com/ana", "snap.me"]
# gpt-4o-mini's list prices (OpenAI's pricing page), USD per million tokens: $0.15 input, $0.60
# output. A review reported as 1,000 prompt and 200 completion tokens costs
# 1,000 x $0.15/M + 200 x $0.60/M = $0.00015 + $0.00012:
REVIEW_USAGE, REVIEW_USD = (1_000, 200), 0.00027


def qa_answer(body: dict, score: int = 70, usage: tuple[int, int] = REVIEW_USAGE) -> dict:
    """A valid review of the request's transcript: the first fan line is a missed signal, a
    chatter line with a redacted URL an off-platform breach. The server reports `usage`."""
    lines = [LINE.match(line) for line in transcript_of(body).splitlines()]
    lines = [m for m in lines if m]
    fan_ids = [int(m.group(1)) for m in lines if m.group(2) == "F"]
    chatter_ids = [int(m.group(1)) for m in lines if m.group(2) == "C"]
    url_ids = [int(m.group(1)) for m in lines if m.group(2) == "C" and "[url]" in m.group(3)]
    answer = {
        "score": score, "tone_match": 80, "offer_pacing": 90, "pushiness": 10,
        # a chatter's line and an id outside the chat are not missed signals: both dropped
        "missed_buying_signals": fan_ids[:1] + chatter_ids[:1] + [999],
        # a fan's line is not the chatter's breach: dropped
        "policy_breaches": [{"type": "off_platform", "message_id": i} for i in url_ids]
        + [{"type": "meeting", "message_id": i} for i in fan_ids[:1]],
        "reasons": ["shared a link", "missed the price question"],
    }
    return completion(body, json.dumps(answer), usage=usage)


@pytest.fixture
def scenario(chat, lake):
    """ana: 4 conversations on 2026-10-01 (one with a purchase, one with a fan at risk);
    ben: 1; one conversation on as-of's own day."""
    ids = {}
    ids["fan1"] = chat.fan(1, 10, "how much for the set? mail me at jane.doe@example.com "
                                  "or call +1 (555) 013-4477")
    ids["ana_link"] = chat.creator(1, 12, "it's $20, also on https://onlyfans.com/ana/set1",
                                   price=20)
    chat.buy(1, 20, 20)
    chat.buy(2, -40 * 24 * 60, 10)  # fan 2's last purchase: 40 days before
    chat.fan(2, 100, "hey stranger")
    chat.creator(2, 101, "missed you! add me on snap.me/ana")
    chat.fan(3, 200, "hello")
    chat.creator(3, 201, "hey there")
    chat.fan(4, 300, "yo")
    chat.creator(4, 301, "yo")
    ids["fan5"] = chat.fan(5, 800, "text me 5550134477")
    chat.creator(5, 801, "can't, sorry <b>love</b>")
    chat.fan(6, 1440 + 60, "today")  # 2026-10-02: not a completed day
    chat.creator(6, 1440 + 61, "hi")
    chat.write(as_of=AS_OF)
    # the classifier's preferences: fan 1 likes a playful tone
    path = lake.mart_path("fan_preferences", CREATOR, "prefs")
    frame = pl.DataFrame({"creator_id": [CREATOR], "fan_id": [1], "tone_preference": ["playful"]})
    atomic_write(path, lambda tmp: frame.write_parquet(tmp))
    lake.commit_marts(CREATOR, "prefs")
    return ids


def llm(url: str, **overrides) -> LLMReviewer:
    return LLMReviewer(LLMSettings(**{"api_key": API_KEY, "base_url": url, "max_retries": 1,
                                      "timeout": 10.0, **overrides}))


def run(lake, reviewer, run_id: str, **settings):
    try:
        return review_creator(lake, CREATOR, SHIFTS, reviewer, as_of=AS_OF, run_id=run_id,
                              settings=QASettings(**{"sample_size": 2, **settings}))
    finally:
        reviewer.close()


def mart(lake, run_id: str) -> dict[int, dict]:
    return {r["fan_id"]: r for r in rows(lake.mart_path("chat_qa_reviews", CREATOR, run_id))}


def test_llm_reviews_redacted_schema_enforced_costed_and_never_repeated(
        lake, scenario, fake, openai_url):
    fake.respond = lambda body, n: qa_answer(body)
    report = run(lake, llm(openai_url), "qa1")
    # sampled: ana's purchase and at-risk conversations (2 per chatter and day), ben's only one
    assert (report.sampled, report.reviewed, report.failed) == (3, 3, 0)
    assert json.loads(report.metadata()["sample_reasons"]) == {
        "purchase": 1, "at_risk": 1, "random": 1}
    assert len(fake.chat_requests) == 3

    for body in fake.chat_requests:
        assert body["response_format"]["type"] == "json_schema"
        schema = body["response_format"]["json_schema"]
        assert (schema["name"], schema["strict"]) == ("chat_qa_review", True)
        assert schema["schema"]["additionalProperties"] is False
    sent = b"".join(fake.bodies).decode()
    for secret in SECRETS:
        assert secret not in sent
    assert "<b>" not in sent and "@" not in sent
    for placeholder in ("[email]", "[phone]", "[url]"):
        assert placeholder in sent
    [fan1_request] = fake.requests_for("how much for the set?")
    assert "Fan's preferred tone: playful" in fan1_request["messages"][1]["content"]
    assert str(CREATOR) not in sent and str(scenario["fan1"]) not in sent  # no ids leave

    reviews = mart(lake, "qa1")
    assert set(reviews) == {1, 2, 5}
    fan1 = reviews[1]
    assert (fan1["chatter"], str(fan1["day"]), fan1["score"], fan1["model"], fan1["method"],
            fan1["status"], fan1["sample_reason"], fan1["fan_tone_preference"]) == (
        "ana", "2026-10-01", 70, "gpt-4o-mini", "live", "ok", "purchase", "playful")
    assert fan1["missed_signal_message_ids"] == [scenario["fan1"]]
    assert fan1["policy_breaches"] == [{"type": "off_platform", "message_id": scenario["ana_link"]}]
    assert fan1["message_ids"] == [scenario["fan1"], scenario["ana_link"]]
    assert fan1["reasons"] == ["shared a link", "missed the price question"]
    assert (reviews[2]["sample_reason"], reviews[5]["sample_reason"]) == ("at_risk", "random")
    assert reviews[2]["fan_tone_preference"] is None
    for review in reviews.values():
        assert (review["prompt_tokens"], review["completion_tokens"]) == REVIEW_USAGE
        assert review["cost_usd"] == pytest.approx(REVIEW_USD)
    assert (report.cost_usd, report.tokens) == (pytest.approx(3 * REVIEW_USD), 3 * 1_200)

    again = run(lake, llm(openai_url), "qa2")
    assert len(fake.chat_requests) == 3  # the same conversations are not reviewed again
    assert (again.reviewed, again.skipped_reviewed, again.tokens) == (0, 3, 0)
    assert mart(lake, "qa2") == reviews


def test_an_invalid_answer_is_asked_again_once_then_recorded_as_failed(
        lake, scenario, fake, openai_url):
    def respond(body, n):
        text = transcript_of(body)
        if "how much for the set?" in text:  # fan 1: always invalid, each attempt billed
            usage = (1_100, 40) if n % 2 else (1_300, 45)
            return completion(body, json.dumps({"score": 500}), usage=usage)
        if "hey stranger" in text and n == 1:  # fan 2: invalid once, then valid
            return completion(body, "not json", usage=(900, 20))
        return qa_answer(body, score=88)

    fake.respond = respond
    report = run(lake, llm(openai_url), "qa1")
    assert (report.reviewed, report.failed) == (2, 1)
    assert len(fake.chat_requests) == 5  # 2 for fan 1, 2 for fan 2, 1 for fan 5
    retry = fake.requests_for("hey stranger")[1]
    assert retry["messages"][-1]["content"].startswith("Invalid (schema:")
    reviews = mart(lake, "qa1")
    assert (reviews[2]["status"], reviews[2]["attempts"], reviews[2]["score"]) == ("ok", 2, 88)
    failed = reviews[1]
    assert (failed["status"], failed["attempts"], failed["score"]) == ("failed", 2, None)
    assert failed["error"].startswith("invalid answer: schema: score")
    # a failure costs too, both attempts: 1,100 + 1,300 prompt and 40 + 45 completion tokens,
    # 2,400 x $0.15/M + 85 x $0.60/M = $0.00036 + $0.000051
    assert (failed["prompt_tokens"], failed["completion_tokens"]) == (2_400, 85)
    assert failed["cost_usd"] == pytest.approx(0.000411)
    # fan 2: 900 + 1,000 prompt and 20 + 200 completion tokens, $0.000285 + $0.000132
    assert (reviews[2]["prompt_tokens"], reviews[2]["completion_tokens"]) == (1_900, 220)
    assert reviews[2]["cost_usd"] == pytest.approx(0.000417)

    run(lake, llm(openai_url), "qa2")  # one more try for the failed conversation
    assert len(fake.chat_requests) == 7
    third = run(lake, llm(openai_url), "qa3")  # two failures: it waits for a change
    assert len(fake.chat_requests) == 7 and third.skipped_failed == 1


def test_the_budget_holds_the_rest_back(lake, scenario, fake, openai_url):
    fake.respond = lambda body, n: qa_answer(body)
    report = run(lake, llm(openai_url), "qa1", max_reviews_per_run=1)
    assert (report.reviewed, report.pending_budget, len(fake.chat_requests)) == (1, 2, 1)
    assert "max_classifications_per_run (1)" in report.stop_reason
    # the purchase conversation goes first
    assert "how much for the set?" in transcript_of(fake.chat_requests[0])


def test_rules_without_a_key_and_an_llm_supersedes_them(lake, scenario, fake, openai_url):
    rules = run(lake, RulesReviewer(), "qa1")
    assert (rules.reviewed, rules.tokens, rules.cost_usd, rules.model) == (3, 0, 0.0, RULES_MODEL)
    by_fan = mart(lake, "qa1")
    assert {r["model"] for r in by_fan.values()} == {RULES_MODEL}
    # ana's link is off-platform to the rules too; the price question was answered with an offer
    assert by_fan[1]["policy_breaches"] == [
        {"type": "off_platform", "message_id": scenario["ana_link"]}]
    assert by_fan[1]["missed_signal_message_ids"] == []
    assert by_fan[5]["policy_breaches"] == []  # the fan's number is his, not a chatter breach

    fake.respond = lambda body, n: qa_answer(body)
    live = run(lake, llm(openai_url), "qa2")
    assert live.reviewed == 3  # a key configured later: the LLM reviews them
    assert {r["model"] for r in mart(lake, "qa2").values()} == {"gpt-4o-mini"}
    assert run(lake, RulesReviewer(), "qa3").reviewed == 0  # rules never replace the LLM
    assert load_reviews(lake, CREATOR).height == 6  # every review is kept


def test_sampling_is_stable_and_skips_the_unfinished_day(lake, scenario):
    first = run(lake, RulesReviewer(), "qa1", sample_size=1)
    assert json.loads(first.metadata()["sample_reasons"]) == {"purchase": 1, "random": 1}
    assert (first.first_day, first.last_day) == ("2026-09-25", "2026-10-01")
    assert set(mart(lake, "qa1")) == {1, 5}
    today = run(lake, RulesReviewer(), "qa2", sample_size=1, include_today=True)
    assert today.reviewed == 1 and set(mart(lake, "qa2")) == {1, 5, 6}
    big = run(lake, RulesReviewer(), "qa3", sample_size=10)
    assert big.sampled == 5 and big.reviewed == 3  # fans 2, 3, 4 are new; 1 and 5 known


def test_realtime_runs_send_nothing(lake, scenario, fake, openai_url):
    report = review_creator(lake, CREATOR, SHIFTS, llm(openai_url), as_of=AS_OF, run_id="rt",
                            review=False)
    assert (report.sampled, len(fake.chat_requests), report.mart_rows) == (0, 0, 0)
    assert lake.mart_path("chat_qa_reviews", CREATOR, "rt").exists()
