"""The Dagster assets: wiring into the existing definitions, a materialization from raw to the
analysts' file (checks, metadata, publishing, the leaderboard), the LLM through the classifier's
resource, real-time runs."""

from __future__ import annotations

import json
from datetime import timedelta

import dagster as dg
import duckdb
import pytest

from ofhq_pipeline.chatters.leaderboard import (
    chatter_leaderboard,
    chatter_leaderboard_from_file,
    leaderboard_rows,
)
from ofhq_pipeline.chatters.shifts import add_shifts
from ofhq_pipeline.defs.chatters.assets import (
    DAILY_KEY,
    MESSAGES_IN_SHIFTS,
    NO_OVERLAPS,
    QA_KEY,
    SHIFTS_VALID,
    chatter_assets,
)
from ofhq_pipeline.defs.marts.assets import marts_transactions
from ofhq_pipeline.defs.staging.assets import staging_assets
from ofhq_pipeline.resources.chatters import ChattersResource
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.landing import LandingResource
from ofhq_pipeline.resources.openai_classifier import OpenAIClassifierResource
from ofhq_pipeline.resources.sync_settings import SyncSettings
from ofhq_pipeline.warehouse.publish import publish
from ofhq_pipeline_tests.builders import CREATOR, T0, write_sync
from ofhq_pipeline_tests.chatters.conftest import Chat
from ofhq_pipeline_tests.chatters.test_qa import REVIEW_USD, qa_answer
from ofhq_pipeline_tests.intelligence.fixtures import API_KEY

AS_OF = T0 + timedelta(days=1, hours=6)
SHIFT_FILE = """\
shifts:
  - {creator_id: acct_test, chatter: ana, start: "2026-10-01T00:00:00Z", end: "2026-10-01T12:00:00Z"}
  - {creator_id: acct_test, chatter: ben, start: "2026-10-01T11:00:00Z", end: "2026-10-01T20:00:00Z"}
  - {creator_id: acct_test, chatter: ben, start: "2026-10-01T20:00:00Z", end: "2026-10-01T19:00:00Z"}
"""


@pytest.fixture
def inputs(lake, tmp_path):
    chat = Chat(lake)
    chat.fan(1, 10, "how much for the set? write me at jane.doe@example.com")
    chat.creator(1, 12, "it's $20", price=20)
    chat.buy(1, 20, 20)
    chat.fan(2, 700, "hey")  # 11:40, ana and ben both on shift: an overlap
    chat.creator(2, 705, "hi there")
    chat.fan(3, 800, "are you there")
    chat.creator(3, 805, "yes love")  # ben alone
    chat.creator(3, 1300, "night")  # 21:40: the invalid shift would have covered it: a gap
    chat.creator(4, 1000, "pushed shift")  # 16:40, carl's pushed shift overlaps ben's
    write_sync(lake, fetched_at=AS_OF, fans=[], messages=chat.messages,
               transactions=chat.transactions)
    shifts = tmp_path / "shifts.yaml"
    shifts.write_text(SHIFT_FILE)
    landing_url = f"sqlite:///{tmp_path / 'landing.db'}"
    add_shifts(landing_url, [{"creator_id": CREATOR, "chatter": "carl",
                              "start": "2026-10-01T16:30:00Z", "end": "2026-10-01T17:00:00Z"}])
    return shifts, landing_url


def resources(lake, shifts, landing_url, classifier=None) -> dict:
    return {
        "lake": LakeResource(home=str(lake.paths.home)),
        "sync": SyncSettings(as_of=AS_OF.isoformat()),
        "landing": LandingResource(url=landing_url),
        "chatters": ChattersResource(shifts_file=str(shifts), qa_sample_size=5),
        "classifier": classifier or OpenAIClassifierResource(),
    }


def materialize(instance, lake, res, *, tags=None, with_inputs=True) -> dg.ExecuteInJobResult:
    instance.add_dynamic_partitions("creators", [CREATOR])
    assets = [*staging_assets, marts_transactions, *chatter_assets] if with_inputs \
        else chatter_assets
    return dg.materialize(assets, partition_key=CREATOR, instance=instance, resources=res,
                          tags=tags, raise_on_error=True)


def metadata(result, key) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_from_raw_to_the_analysts_file_with_checks(lake, instance, inputs):
    shifts, landing_url = inputs
    result = materialize(instance, lake, resources(lake, shifts, landing_url))
    assert result.success
    daily = metadata(result, DAILY_KEY)
    assert (daily["shifts"], daily["creator_messages"], daily["attributed_messages"],
            daily["messages_in_gaps"], daily["messages_in_overlaps"]) == (3, 5, 2, 1, 2)
    assert daily["shift_sources"] == f"{shifts}, landing:chatter_shifts"
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks[SHIFTS_VALID].passed is False
    assert checks[SHIFTS_VALID].severity == dg.AssetCheckSeverity.ERROR
    assert f"{shifts}:4: `end`" in checks[SHIFTS_VALID].metadata["errors"].value
    assert checks[NO_OVERLAPS].passed is False
    assert checks[NO_OVERLAPS].metadata["overlaps"].value == 2
    assert checks[MESSAGES_IN_SHIFTS].passed is False
    assert checks[MESSAGES_IN_SHIFTS].severity == dg.AssetCheckSeverity.WARN
    qa = metadata(result, QA_KEY)
    assert (qa["model"], qa["reviewed"], qa["dollars"], qa["realtime_run"]) == (
        "qa-rules-v1", 2, 0.0, False)  # ana with fan 1, ben with fan 3: the rest is unattributed

    publish(lake, CREATOR, result.run_id)
    con = duckdb.connect(str(lake.paths.analysts_marts), read_only=True)
    try:
        per_chatter = dict(con.sql(
            "SELECT chatter, sum(messages_sent) FROM marts.chatter_performance_daily "
            "GROUP BY chatter").fetchall())
        assert per_chatter == {"ana": 1, "ben": 1, "carl": 0}
        kinds = sorted(k for (k,) in con.sql(
            "SELECT kind FROM marts.chatter_shift_issues").fetchall())
        assert kinds == ["gap", "invalid_shift", "overlap", "overlap"]
        assert con.sql("SELECT count(*) FROM marts.chatter_shift_performance").fetchone()[0] == 3
        assert con.sql("SELECT count(*) FROM marts.chat_qa_reviews").fetchone()[0] == 2
        rows = leaderboard_rows(con)
        assert [r.chatter for r in rows] == ["ana", "ben", "carl"]  # by revenue, then name
        assert (rows[0].revenue_cents, rows[0].ppv_unlocked, rows[0].unlock_ratio) == (2000, 1, 1)
        assert rows[0].qa_reviews == 1 and rows[0].qa_score is not None
        table = chatter_leaderboard(con)
    finally:
        con.close()
    lines = table.splitlines()
    assert lines[0].startswith("| # | Chatter | Creators | Shift h |")
    assert lines[2].startswith("| 1 | ana | 1 | 12 | 1 | 1 | 1 | 100% | $20.00 | $1.67 | 2m 00s |")
    assert len(lines) == 5
    assert chatter_leaderboard_from_file(lake.paths.analysts_marts) == table
    assert chatter_leaderboard_from_file(lake.paths.home / "missing.duckdb") == ""


def test_the_llm_through_the_classifiers_resource_and_realtime_runs(
        lake, instance, inputs, fake, openai_url):
    shifts, landing_url = inputs
    fake.respond = lambda body, n: qa_answer(body, score=64)
    classifier = OpenAIClassifierResource(api_key=API_KEY, base_url=openai_url)
    res = resources(lake, shifts, landing_url, classifier)
    realtime = materialize(instance, lake, res, tags={"ofhq/trigger": "webhook"})
    assert len(fake.chat_requests) == 0  # real-time runs send nothing
    assert metadata(realtime, QA_KEY)["realtime_run"] is True

    result = materialize(instance, lake, res, with_inputs=False)
    qa = metadata(result, QA_KEY)
    assert (qa["model"], qa["reviewed"], qa["failed"]) == ("gpt-4o-mini", 2, 0)
    # two reviews of 1,000 + 200 tokens, at $0.00027 each
    assert (qa["tokens"], qa["dollars"]) == (2 * 1_200, pytest.approx(2 * REVIEW_USD))
    assert len(fake.chat_requests) == 2
    assert "jane.doe@example.com" not in b"".join(fake.bodies).decode()
    logs = json.dumps([str(e) for e in instance.all_logs(result.run_id)])
    assert API_KEY not in logs and API_KEY not in json.dumps(qa, default=str)

    again = materialize(instance, lake, res, with_inputs=False)
    assert metadata(again, QA_KEY)["skipped_reviewed"] == 2
    assert len(fake.chat_requests) == 2
