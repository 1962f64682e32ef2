"""The Batch API flow end to end against the local server, and its resumption after interruptions."""

from __future__ import annotations

import json

import duckdb
import openai
import polars as pl
import pytest

from ofhq_pipeline.intelligence.batch import BatchRunner, jobs_dir, pending_jobs
from ofhq_pipeline.intelligence.commands import classify_command
from ofhq_pipeline.intelligence.engine import classify_creator
from ofhq_pipeline.intelligence.store import load
from ofhq_pipeline.llm.chat import LLMSettings
from ofhq_pipeline.resources.openai_classifier import OpenAIClassifierResource
from ofhq_pipeline_tests.builders import CREATOR
from ofhq_pipeline_tests.intelligence.answers import NEUTRAL, answer
from ofhq_pipeline_tests.intelligence.conftest import API_KEY, AS_OF, llm
from ofhq_pipeline_tests.intelligence.fake_openai import Scripted, by_marker
from ofhq_pipeline_tests.intelligence.test_llm import PII


def runner(lake, url, **kwargs) -> BatchRunner:
    settings = LLMSettings(api_key=API_KEY, base_url=url, max_retries=kwargs.pop("max_retries", 2),
                           timeout=10.0)
    return BatchRunner(lake, settings, poll_interval=0.01, **kwargs)


def input_files(fake) -> list[dict]:
    return [f for f in fake.files.values() if f["purpose"] == "batch"]


def classifications(lake) -> dict[int, dict]:
    frame = load(lake, "fan_classifications", CREATOR)
    return {r["fan_id"]: r for r in frame.iter_rows(named=True)}


@pytest.fixture
def three_fans(chats):
    chats.say(1, "how much for a custom?", f"my email is {PII['email']}")
    chats.say(2, "my dog Max says hi", f"card {PII['card']} declined")
    chats.say(3, f"call me {PII['phone']} or see {PII['url']}")
    chats.write()
    return chats


DOG_OWNER = answer(
    narrative_summary="Shares news of his dog Max; a card of his was declined.",
    intents={"ready_to_buy": (60, [2])},
    facts=[{"category": "pet_name", "value": "Max", "confidence": 90, "message_id": 1}],
)


def test_batch_end_to_end_at_half_price(three_fans, lake, fake, openai_url):
    fake.respond = by_marker({
        "how much for a custom?": Scripted(NEUTRAL, 1_000, 400),
        "my dog Max": Scripted(DOG_OWNER, 1_200, 500),
        "call me": Scripted(NEUTRAL, 900, 300),
    })
    report = runner(lake, openai_url).run(CREATOR, as_of=AS_OF)
    [upload] = input_files(fake)
    lines = [json.loads(line) for line in upload["content"].decode().splitlines()]
    assert [line["url"] for line in lines] == ["/v1/chat/completions"] * 3
    assert {line["method"] for line in lines} == {"POST"}
    [batch] = fake.batches.values()
    assert batch["endpoint"] == "/v1/chat/completions" and batch["completion_window"] == "24h"
    assert batch["status"] == "completed" and fake.chat_requests == []  # nothing went live
    assert (report.classified, report.failed, report.method) == (3, 0, "batch")
    result = classifications(lake)
    assert {r["method"] for r in result.values()} == {"batch"}
    # gpt-4o-mini at $0.15 / $0.60 per million tokens, and the Batch API at half of that:
    assert {f: (r["prompt_tokens"], r["completion_tokens"], r["cost_usd"])
            for f, r in result.items()} == {
        1: (1_000, 400, pytest.approx(0.000195)),  # ($0.00015 + $0.00024) / 2
        2: (1_200, 500, pytest.approx(0.00024)),  # ($0.00018 + $0.0003) / 2
        3: (900, 300, pytest.approx(0.0001575)),  # ($0.000135 + $0.00018) / 2
    }
    assert report.cost_usd == pytest.approx(0.0005925)
    facts = load(lake, "fan_facts", CREATOR)
    assert facts.select("fan_id", "category", "value", "confidence").rows() == [
        (2, "pet_name", "Max", 90)]
    events = load(lake, "fan_intent_events", CREATOR)
    assert events.select("fan_id", "signal", "score").rows() == [(2, "ready_to_buy", 60)]
    assert pending_jobs(lake, CREATOR) == [] and not any(jobs_dir(lake, CREATOR).iterdir())

    sent = b"\n".join(fake.bodies).decode()
    for kind, value in PII.items():
        assert value not in sent, kind

    again = runner(lake, openai_url).run(CREATOR, as_of=AS_OF)  # unchanged: nothing is sent
    assert (again.skipped_unchanged, len(input_files(fake)), len(fake.batches)) == (3, 1, 1)


def test_resumes_a_batch_interrupted_while_waiting(three_fans, lake, fake, openai_url):
    fake.hold_batches = True
    first = runner(lake, openai_url, max_wait=0.2).run(CREATOR, as_of=AS_OF)
    assert "still in_progress" in first.stop_reason and first.in_batch == 3
    [job] = pending_jobs(lake, CREATOR)
    assert job.state["batch_id"] in fake.batches and job.state["input_file_id"]
    assert sorted(i["fan_id"] for i in job.state["items"].values()) == [1, 2, 3]
    assert classifications(lake) == {}

    # meanwhile the live path leaves the batch's fans alone
    live = classify_creator(lake, CREATOR, llm(openai_url), as_of=AS_OF, run_id="live")
    assert (live.in_batch, live.classified, fake.chat_requests) == (3, 0, [])

    fake.hold_batches = False
    resumed = runner(lake, openai_url).run(CREATOR, as_of=AS_OF)
    assert (len(input_files(fake)), fake.batch_creates) == (1, 1)  # no new upload, no new batch
    assert resumed.classified == 3 and pending_jobs(lake, CREATOR) == []
    assert {r["status"] for r in classifications(lake).values()} == {"ok"}


def test_resumes_after_a_crash_between_upload_and_batch_creation(three_fans, lake, fake,
                                                                 openai_url):
    fake.fail_batch_creates = 1
    with pytest.raises(openai.InternalServerError):
        runner(lake, openai_url, max_retries=0).run(CREATOR, as_of=AS_OF)
    [job] = pending_jobs(lake, CREATOR)
    assert job.state["input_file_id"] and job.state["batch_id"] is None
    report = runner(lake, openai_url, max_retries=0).run(CREATOR, as_of=AS_OF)
    assert (len(input_files(fake)), fake.batch_creates, report.classified) == (1, 1, 3)


def test_adopts_a_batch_created_just_before_a_crash(three_fans, lake, fake, openai_url):
    fake.hold_batches = True
    runner(lake, openai_url, max_wait=0).run(CREATOR, as_of=AS_OF)
    [job] = pending_jobs(lake, CREATOR)
    job.state["batch_id"] = None  # as if the process died before recording it
    job.save()
    fake.hold_batches = False
    report = runner(lake, openai_url).run(CREATOR, as_of=AS_OF)
    assert (fake.batch_creates, len(input_files(fake)), report.classified) == (1, 1, 3)


def test_invalid_batch_answers_are_asked_once_more_live(three_fans, lake, fake, openai_url):
    fake.respond = by_marker({
        # fan 2: invalid in the batch and in the retry
        "my dog Max": Scripted({**NEUTRAL, "fan_type": "x"}, 1_000, 300),
        # fan 1: invalid once
        "how much for a custom?": [Scripted({**NEUTRAL, "confidence": -1}, 1_000, 300),
                                   Scripted(NEUTRAL, 1_000, 300)],
        "call me": Scripted(NEUTRAL, 1_000, 300),
    })
    report = runner(lake, openai_url).run(CREATOR, as_of=AS_OF)
    assert len(fake.chat_requests) == 2  # one live retry each for fans 1 and 2
    result = classifications(lake)
    assert result[1]["status"] == "ok" and result[1]["attempts"] == 2
    assert result[2]["status"] == "failed" and "fan_type" in result[2]["error"]
    assert result[3]["status"] == "ok" and (report.classified, report.failed) == (2, 1)


def test_batch_respects_the_budget_unless_backfilling(three_fans, lake, fake, openai_url):
    settings = LLMSettings(api_key=API_KEY, base_url=openai_url, max_classifications=2)
    report = BatchRunner(lake, settings, poll_interval=0.01).run(CREATOR, as_of=AS_OF)
    assert (report.classified, report.pending_budget) == (2, 1)
    rest = BatchRunner(lake, settings, poll_interval=0.01).run(CREATOR, as_of=AS_OF,
                                                              unlimited=True)
    assert (rest.classified, rest.skipped_unchanged) == (1, 2)


def test_classify_command_batch_backfill_publishes_the_marts(three_fans, lake, fake, openai_url):
    resource = OpenAIClassifierResource(api_key=API_KEY, base_url=openai_url)
    lines = []
    [report] = classify_command(True, True, lake=lake, resource=resource, as_of=AS_OF,
                                poll_interval=0.01, echo=lines.append)
    assert report.classified == 3 and report.method == "batch"
    assert "3 classified" in lines[0] and API_KEY not in lines[0]
    con = duckdb.connect(str(lake.paths.analysts_marts), read_only=True)
    try:
        persona = con.sql("SELECT fan_id, classifier_model FROM marts.fan_personality").fetchall()
        assert sorted(persona) == [(1, "gpt-4o-mini"), (2, "gpt-4o-mini"), (3, "gpt-4o-mini")]
        assert con.sql("SELECT count(*) FROM marts.transactions").fetchone()[0] == 0
    finally:
        con.close()
    # without a key the command classifies with the rules, and --batch is refused
    rules = classify_command(False, False, lake=lake, resource=OpenAIClassifierResource(),
                             as_of=AS_OF, echo=lines.append)
    assert rules[0].model == "rules-v1" and rules[0].classified == 3
    with pytest.raises(Exception, match="OPENAI_API_KEY"):
        classify_command(False, True, lake=lake, resource=OpenAIClassifierResource(),
                         as_of=AS_OF, echo=lines.append)
    assert pl.read_parquet(lake.mart_path("fan_personality", CREATOR,
                                          _latest_run(lake)))["classifier_model"].to_list() == [
        "rules-v1"] * 3


def _latest_run(lake) -> str:
    manifest = lake.read_manifest(CREATOR)
    return manifest["fan_personality"].split("/")[-2]
