"""Time is one clock: every instant the classifier records is the run's as-of, whether it is
pinned by OFHQ_AS_OF or by the run's `ofhq/as_of` tag, so the same inputs and as-of give the same
tables, and nothing recorded lies after the as-of it describes."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest

from ofhq_pipeline.defs.intelligence.assets import intelligence_assets
from ofhq_pipeline.defs.marts.assets import marts_transactions
from ofhq_pipeline.defs.staging.assets import staging_assets
from ofhq_pipeline.intelligence.batch import BatchRunner
from ofhq_pipeline.intelligence.engine import classify_creator
from ofhq_pipeline.intelligence.llm import LLMClassifier
from ofhq_pipeline.intelligence.store import MART_TABLES, load
from ofhq_pipeline.lake import Lake
from ofhq_pipeline.llm.chat import LLMSettings
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.openai_classifier import OpenAIClassifierResource
from ofhq_pipeline.resources.sync_settings import AS_OF_TAG, SyncSettings
from ofhq_pipeline_tests.builders import (
    CREATOR,
    day,
    fan,
    make_lake,
    message,
    parquet_dicts,
    txn,
    write_sync,
)
from ofhq_pipeline_tests.servers import serve_app

AS_OF = day(30)  # weeks before the wall clock of any machine running this
REALTIME = {"ofhq/trigger": "webhook"}
# Every instant each classifier table records, and whether it must be the as-of itself.
RECORDED_TIMES = {
    "fan_classifications": {"classified_at": True},
    "fan_intent_events": {"detected_at": True},
    "fan_facts": {"first_seen_at": False, "last_seen_at": False, "updated_at": True},
    "fan_preferences": {"classified_at": True},
    "fan_personality": {"classified_at": True},
}


def chats() -> list[tuple[int, dict]]:
    said = [
        (1, day(1), True, "how much for a custom video?"),
        (1, day(1.01), False, "for you $40"),
        (1, day(2), True, "my dog Max says hi, I work nights"),
        (2, day(3), True, "lol you're hilarious, send me something"),
        (2, day(29), True, "are you there? I'm ready to buy"),
        (3, day(31), True, "written after as-of: no run at as-of may see it"),
    ]
    return [(f, message(100 + n, f, at, from_fan=by_fan, text=text))
            for n, (f, at, by_fan, text) in enumerate(said)]


def write_inputs(lake) -> None:
    write_sync(lake, fetched_at=day(40), fans=[fan(1), fan(2), fan(3)], messages=chats(),
               transactions=[txn("t1", 1, 40.0, day(1.02))])


# The rules classifier (no key), real-time runs holding a fan back for 5 minutes.
CLASSIFIER = OpenAIClassifierResource(debounce_minutes=5)


def materialize(instance, home, *, sync: SyncSettings, tags: dict | None = None):
    instance.add_dynamic_partitions("creators", [CREATOR])
    result = dg.materialize(
        [*staging_assets, marts_transactions, *intelligence_assets], partition_key=CREATOR,
        instance=instance, tags=tags,
        resources={"lake": LakeResource(home=str(home)), "sync": sync, "classifier": CLASSIFIER},
    )
    assert result.success
    return result


def classifier_marts(home, run_id: str) -> dict[str, list[dict]]:
    lake = make_lake(home)
    return {table: parquet_dicts(lake.mart_path(table, CREATOR, run_id), order="ALL")
            for table in MART_TABLES}


def classified(result) -> int:
    [event] = [e for e in result.get_asset_materialization_events()
               if e.asset_key == dg.AssetKey(["marts", "fan_classifications"])]
    return event.materialization.metadata["classified"].value


@pytest.fixture
def two_homes(tmp_path, instance):
    """The same inputs classified in two lakes at the same as-of: pinned by OFHQ_AS_OF in one,
    by the run's tag in the other."""
    homes = [tmp_path / "pinned_by_env", tmp_path / "pinned_by_tag"]
    for home in homes:
        write_inputs(make_lake(home))
    by_env = materialize(instance, homes[0], sync=SyncSettings(as_of=AS_OF.isoformat()))
    by_tag = materialize(instance, homes[1], sync=SyncSettings(),
                         tags={AS_OF_TAG: AS_OF.isoformat()})
    return classifier_marts(homes[0], by_env.run_id), classifier_marts(homes[1], by_tag.run_id)


def test_same_inputs_and_as_of_give_identical_classifier_tables(two_homes):
    first, second = two_homes
    assert len(first["fan_classifications"]) == 2  # fan 3 wrote only after as-of
    assert first["fan_facts"] and first["fan_intent_events"]
    for table in MART_TABLES:
        assert first[table] == second[table], table


def test_every_recorded_instant_is_the_as_of_or_before_it(two_homes):
    tables, _ = two_homes
    for table, columns in RECORDED_TIMES.items():
        assert tables[table], table
        for row in tables[table]:
            for column, is_as_of in columns.items():
                assert row[column] <= AS_OF, (table, column, row)
                if is_as_of:
                    assert row[column] == AS_OF, (table, column, row)
    # a fact is dated by the message it was read in
    facts = {row["value_norm"]: row for row in tables["fan_facts"]}
    assert facts["max"]["first_seen_at"] == day(2)


def test_the_debounce_reads_the_same_clock(tmp_path, instance):
    """A real-time run at the as-of a fan was classified at holds him back; one whose as-of is
    past the debounce takes him, dated at its own as-of."""
    home = tmp_path / "home"
    lake = make_lake(home)
    write_inputs(lake)
    unpinned = SyncSettings()
    materialize(instance, home, sync=unpinned, tags={AS_OF_TAG: AS_OF.isoformat()})
    write_sync(lake, fetched_at=day(41),
               messages=[(2, message(900, 2, day(29.5), from_fan=True, text="hello??"))])
    held = materialize(instance, home, sync=unpinned,
                       tags={**REALTIME, AS_OF_TAG: AS_OF.isoformat()})
    assert classified(held) == 0
    later = AS_OF + timedelta(minutes=6)
    taken = materialize(instance, home, sync=unpinned,
                        tags={**REALTIME, AS_OF_TAG: later.isoformat()})
    assert classified(taken) == 1
    rows = classifier_marts(home, taken.run_id)["fan_classifications"]
    assert sorted((r["fan_id"], r["classified_at"]) for r in rows) == [
        (1, AS_OF), (2, AS_OF), (2, later)]


@pytest.fixture
def openai_url():
    from ofhq_pipeline_tests.intelligence.fake_openai import FakeOpenAI

    with serve_app(FakeOpenAI().app()) as url:
        yield f"{url}/v1"


def staged(home) -> Lake:
    """The inputs staged, with marts.transactions current: what the classifier reads."""
    lake = make_lake(home)
    write_inputs(lake)
    for table in ("fans", "subscription_periods", "transactions", "messages", "chats",
                  "vault_media"):
        with lake.session(CREATOR) as con:
            lake.write_model(con, f"staging/{table}", lake.staging_path(table, CREATOR))
    with lake.session(CREATOR, as_of=AS_OF, run_id="inputs") as con:
        lake.write_model(con, "marts/transactions",
                         lake.mart_path("transactions", CREATOR, "inputs"))
    lake.commit_marts(CREATOR, "inputs")
    return lake


def test_the_llm_and_the_batch_api_date_their_classifications_at_as_of(tmp_path, openai_url):
    """However long the model (or a batch, which may finish in a later run) takes."""
    settings = LLMSettings(api_key="sk-test-clock", base_url=openai_url, max_retries=0,
                           timeout=10.0)
    live_lake = staged(tmp_path / "live")
    engine = LLMClassifier(settings)
    try:
        report = classify_creator(live_lake, CREATOR, engine, as_of=AS_OF)
    finally:
        engine.close()
    batch_lake = staged(tmp_path / "batch")
    runner = BatchRunner(batch_lake, settings, poll_interval=0.01)
    try:
        batch = runner.run(CREATOR, as_of=AS_OF)
    finally:
        runner.close()
    assert (report.classified, batch.classified, batch.method) == (2, 2, "batch")
    for lake in (live_lake, batch_lake):
        rows = load(lake, "fan_classifications", CREATOR).to_dicts()
        assert {r["classified_at"] for r in rows} == {AS_OF}
        events = load(lake, "fan_intent_events", CREATOR)["detected_at"].to_list()
        facts = load(lake, "fan_facts", CREATOR)
        assert all(at == AS_OF for at in events)
        assert all(at <= AS_OF for at in [*facts["first_seen_at"], *facts["last_seen_at"]])


def test_two_runs_at_one_as_of_keep_the_later_classification(tmp_path, instance):
    """Both date their classifications at the same instant: the one recorded later is the
    fan's latest, for the profile and for deciding what to send again."""
    home = tmp_path / "home"
    lake = make_lake(home)
    write_inputs(lake)
    pinned = SyncSettings(as_of=AS_OF.isoformat())
    materialize(instance, home, sync=pinned)
    write_sync(lake, fetched_at=day(41), messages=[
        (2, message(901, 2, day(29.5), from_fan=True, text="I want a custom video of you"))])
    second = materialize(instance, home, sync=pinned)
    assert classified(second) == 1
    tables = classifier_marts(home, second.run_id)
    [latest] = [r for r in tables["fan_classifications"] if r["fan_id"] == 2 and r["is_latest"]]
    [first] = [r for r in tables["fan_classifications"] if r["fan_id"] == 2 and not r["is_latest"]]
    assert latest["classified_at"] == first["classified_at"] == AS_OF
    assert latest["message_count"] == first["message_count"] + 1
    persona = {r["fan_id"]: r for r in tables["fan_personality"]}
    assert persona[2]["intent_wants_custom"] >= 50
    third = materialize(instance, home, sync=pinned)
    assert classified(third) == 0  # the latest window is the one classified: nothing to send


# Servers, subprocesses and schedule ticks over whole syncs: `make test-slow`, CI's second step.
pytestmark = pytest.mark.slow
