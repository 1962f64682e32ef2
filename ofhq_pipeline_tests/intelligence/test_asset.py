"""The Dagster multi-asset: wiring, materialization metadata, secrets, debounce, publishing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import dagster as dg
import duckdb
import polars as pl
import pytest

from ofhq_pipeline.defs.intelligence import sensors as sensors_module
from ofhq_pipeline.defs.intelligence.assets import intelligence_assets
from ofhq_pipeline.defs.intelligence.sensors import build_reclassify_sensor
from ofhq_pipeline.defs.marts.assets import marts_transactions
from ofhq_pipeline.defs.partitions import creator_partitions
from ofhq_pipeline.defs.staging.assets import staging_assets
from ofhq_pipeline.intelligence.store import due_path, load
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.openai_classifier import OpenAIClassifierResource
from ofhq_pipeline.resources.sync_settings import SyncSettings
from ofhq_pipeline.warehouse.publish import publish
from ofhq_pipeline_tests.builders import CREATOR, write_sync
from ofhq_pipeline_tests.intelligence.answers import NEUTRAL
from ofhq_pipeline_tests.intelligence.conftest import API_KEY, AS_OF, at
from ofhq_pipeline_tests.intelligence.fake_openai import Scripted, by_marker

PERSONALITY_COLUMNS = [
    "fan_type", "tone_preference", "emotional_drivers", "emotional_needs",
    "content_format_preference", "length_preference", "narrative_summary",
    "frequency_preference", "best_opener_type", "best_offer_type", "custom_interest_level",
    "toxicity_flag", "toxicity_reason", "intent_ready_to_buy", "intent_wants_custom",
    "intent_price_question", "intent_discount_request", "intent_wants_more", "intent_high_intent",
    "intent_churn_risk", "intent_escalation_intent", "intent_trust_intent",
    "intent_attention_intent", "intent_status_intent", "intent_emotional_support",
    "intent_entertainment", "intent_boundary_testing", "classified_at", "classifier_model",
    "last_objection", "top_objection",
]


def resources(lake, classifier: OpenAIClassifierResource, as_of: datetime = AS_OF) -> dict:
    return {
        "lake": LakeResource(home=str(lake.paths.home)),
        "sync": SyncSettings(as_of=as_of.isoformat()),
        "classifier": classifier,
    }


def materialize(instance, lake, classifier, *, assets=None, tags=None,
                as_of: datetime = AS_OF) -> dg.ExecuteInJobResult:
    instance.add_dynamic_partitions("creators", [CREATOR])
    result = dg.materialize(
        assets or intelligence_assets, partition_key=CREATOR, instance=instance,
        resources=resources(lake, classifier, as_of), tags=tags,
    )
    assert result.success
    return result


def metadata(result, table="fan_classifications") -> dict:
    [event] = [e for e in result.get_asset_materialization_events()
               if e.asset_key == dg.AssetKey(["marts", table])]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_rules_from_raw_to_the_analysts_file(chats, lake, instance):
    chats.say(1, "how much for a custom?", "my dog Max says hi")
    chats.say(1, "it's $25", from_fan=False)
    chats.say(2, "lol you're hilarious", "I work nights")
    chats.buy(1, 1.5, kind="message")
    write_sync(lake, fetched_at=AS_OF, fans=[], messages=chats.messages,
               transactions=chats.transactions)
    result = materialize(instance, lake, OpenAIClassifierResource(),
                         assets=[*staging_assets, marts_transactions, *intelligence_assets])
    meta = metadata(result)
    assert (meta["classified"], meta["failed"], meta["model"]) == (2, 0, "rules-v1")
    assert (meta["tokens"], meta["dollars"]) == (0, 0.0)
    run_id = result.run_id
    publish(lake, CREATOR, run_id)  # publishing takes the run's intelligence marts along
    con = duckdb.connect(str(lake.paths.analysts_marts), read_only=True)
    try:
        columns = [c[0] for c in con.sql("DESCRIBE marts.fan_personality").fetchall()]
        assert set(PERSONALITY_COLUMNS) <= set(columns)
        persona = dict(con.sql("SELECT fan_id, intent_wants_custom FROM marts.fan_personality")
                       .fetchall())
        assert persona == {1: 60, 2: 0}  # one message asking for a custom: 60
        # fan 1: a custom, its price and his dog; fan 2: a joke and his night shifts
        events = con.sql("SELECT fan_id, signal FROM marts.fan_intent_events ORDER BY ALL")
        assert events.fetchall() == [
            (1, "price_question"), (1, "wants_custom"), (2, "entertainment")]
        facts = con.sql("SELECT fan_id, category, value FROM marts.fan_facts ORDER BY ALL")
        assert facts.fetchall() == [(1, "pet_name", "Max"), (2, "work_schedule", "nights")]
        for table in ("fan_classifications", "fan_preferences"):
            fans = con.sql(f"SELECT fan_id FROM marts.{table} ORDER BY ALL").fetchall()
            assert fans == [(1,), (2,)], table
    finally:
        con.close()


def test_llm_run_metadata_secrets_and_no_requests_when_unchanged(
        chats, lake, instance, fake, openai_url, monkeypatch):
    for fan in (1, 2, 3):
        chats.say(fan, f"fan {fan}: how much?")
    chats.write()
    fake.respond = by_marker({"how much?": Scripted(NEUTRAL, 1_000, 300)})
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", openai_url)
    classifier = OpenAIClassifierResource.from_env()
    first = materialize(instance, lake, classifier)
    meta = metadata(first)
    assert (meta["classified"], meta["skipped_unchanged"], meta["failed"],
            meta["pending_budget"], meta["model"]) == (3, 0, 0, 0, "gpt-4o-mini")
    assert (meta["prompt_tokens"], meta["completion_tokens"], meta["tokens"]) == (
        3_000, 900, 3_900)
    # 3 x (1,000 x $0.15/M + 300 x $0.60/M) = 3 x $0.00033
    assert meta["dollars"] == pytest.approx(0.00099)
    assert len(fake.chat_requests) == 3

    second = materialize(instance, lake, classifier)
    assert len(fake.chat_requests) == 3  # zero requests for unchanged chats
    meta = metadata(second)
    assert (meta["classified"], meta["skipped_unchanged"], meta["tokens"]) == (0, 3, 0)
    assert metadata(second, "fan_personality")["dagster/row_count"] == 3

    for result in (first, second):
        logs = json.dumps([str(e) for e in instance.all_logs(result.run_id)])
        run = instance.get_run_by_id(result.run_id)
        assert API_KEY not in logs and API_KEY not in json.dumps(run.run_config, default=str)
        assert API_KEY not in json.dumps(meta, default=str)


def test_realtime_runs_debounce_each_fan(chats, lake, instance, fake, openai_url):
    chats.say(1, "hello")
    chats.write()
    classifier = OpenAIClassifierResource(api_key=API_KEY, base_url=openai_url)
    materialize(instance, lake, classifier)
    chats.say(1, "are you there?")
    chats.write()
    realtime = {"ofhq/trigger": "webhook"}
    held = metadata(materialize(instance, lake, classifier, tags=realtime))
    assert (held["debounced"], held["classified"], len(fake.chat_requests)) == (1, 0, 1)
    # a periodic sync does not debounce; nor does a real-time run once the interval is over
    assert metadata(materialize(instance, lake, classifier))["classified"] == 1
    chats.say(1, "hello??")
    chats.write()
    no_wait = OpenAIClassifierResource(api_key=API_KEY, base_url=openai_url, debounce_minutes=0)
    assert metadata(materialize(instance, lake, no_wait, tags=realtime))["classified"] == 1
    assert len(fake.chat_requests) == 3


@pytest.mark.parametrize("budget", [{"max_classifications_per_run": 1}, {"max_usd_per_run": 1e-6}])
def test_budget_from_the_resource(chats, lake, instance, fake, openai_url, budget):
    for fan in (1, 2):
        chats.say(fan, "hi", start=0)
    chats.write()
    classifier = OpenAIClassifierResource(api_key=API_KEY, base_url=openai_url, **budget)
    meta = metadata(materialize(instance, lake, classifier))
    sent = budget.get("max_classifications_per_run", 0)
    assert (meta["classified"], meta["pending_budget"], len(fake.chat_requests)) == (
        sent, 2 - sent, sent)
    assert meta["stop_reason"]


def test_inputs_at_as_of_only(chats, lake, instance):
    chats.say(1, "early words")
    chats.say(1, "words from after as_of", start=(AS_OF - at(0)).total_seconds() / 60 + 5)
    chats.write()
    materialize(instance, lake, OpenAIClassifierResource())
    [row] = load(lake, "fan_classifications", CREATOR).to_dicts()
    assert row["message_count"] == 1


class FrozenClock:
    """The sensor's clock (it reads `datetime.now`), held at `self.now` once installed."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def install(self, monkeypatch, module) -> None:
        clock = self

        class ClockedDatetime(datetime):
            @classmethod
            def now(cls, tz=None):
                return clock.now.astimezone(tz) if tz else clock.now.replace(tzinfo=None)

        monkeypatch.setattr(module, "datetime", ClockedDatetime)


def test_debounced_fans_fall_due_and_the_sensor_asks_for_their_run(
        chats, lake, instance, fake, openai_url, monkeypatch):
    """Each run's as-of is the time it runs at; the sensor reads the same (frozen) clock."""
    first = AS_OF + timedelta(hours=1)
    clock = FrozenClock(first)
    clock.install(monkeypatch, sensors_module)
    chats.say(1, "hello")
    chats.say(2, "hi")
    chats.write()
    classifier = OpenAIClassifierResource(api_key=API_KEY, base_url=openai_url,
                                          debounce_minutes=10)
    materialize(instance, lake, classifier, as_of=first)
    chats.say(1, "are you there?")
    chats.write()
    realtime = {"ofhq/trigger": "webhook"}
    held = metadata(materialize(instance, lake, classifier, tags=realtime,
                                as_of=first + timedelta(minutes=3)))
    assert (held["debounced"], held["classified"]) == (1, 0)
    due = json.loads(due_path(lake, CREATOR).read_text())
    assert due["fan_ids"] == [1]
    due_at = first + timedelta(minutes=10)  # classified at `first`, held for 10 minutes
    assert datetime.fromisoformat(due["due_at"]) == due_at
    assert load(lake, "fan_classifications", CREATOR).filter(
        pl.col("fan_id") == 1)["classified_at"].to_list() == [first]

    job = dg.define_asset_job("reclassify", selection=dg.AssetSelection.assets(*intelligence_assets),
                              partitions_def=creator_partitions)
    sensor = build_reclassify_sensor(job)
    clock.now = due_at - timedelta(microseconds=1)
    assert isinstance(sensor(sensor_context(instance, lake)), dg.SkipReason)
    clock.now = due_at
    [request] = sensor(sensor_context(instance, lake)).run_requests
    assert request.partition_key == CREATOR and request.tags["ofhq/trigger"] == "webhook"
    assert request.run_key == f"reclassify:{CREATOR}:{due['due_at']}"

    meta = metadata(materialize(instance, lake, classifier, tags=request.tags, as_of=due_at))
    assert (meta["classified"], meta["debounced"]) == (1, 0)
    assert not due_path(lake, CREATOR).exists()
    assert isinstance(sensor(sensor_context(instance, lake)), dg.SkipReason)


def sensor_context(instance, lake):
    return dg.build_sensor_context(instance=instance,
                                   resources={"lake": LakeResource(home=str(lake.paths.home))})
