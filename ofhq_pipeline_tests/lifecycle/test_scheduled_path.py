"""The daily stage decay through Dagster: real schedule ticks, the runs they request, what those
runs record and publish, the column descriptions they carry, and the report rendered from them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ofhq_pipeline.defs.lifecycle.schedules import stage_decay_schedule
from ofhq_pipeline.dictionary import FAN_PROFILE, column_descriptions
from ofhq_pipeline.lake import mart_files
from ofhq_pipeline.lifecycle.models import log_path, stages_as_of
from ofhq_pipeline.resources.sync_settings import AS_OF_TAG
from ofhq_pipeline_tests.builders import CREATOR, day, fan, make_lake, message, txn, write_sync
from ofhq_pipeline_tests.location import definitions_at

OTHER = "acct_other"
TICKS = [day(10), day(40)]


@dataclass
class Scheduled:
    defs: dg.Definitions
    instance: dg.DagsterInstance
    lake: object
    requests: list[list[dg.RunRequest]]
    results: list[dg.ExecuteInProcessResult]


def tick(defs, instance, at):
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=at,
                                   repository_def=defs.get_repository_def()) as context:
        return stage_decay_schedule.evaluate_tick(context)


def execute(defs, instance, request) -> dg.ExecuteInProcessResult:
    """What the daemon does with a run request: a run of the job with its tags and partition."""
    return defs.resolve_job_def("stage_decay").execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    lake = make_lake(home)
    # One sync's worth of history, then nothing new: the ticks alone move the stages.
    write_sync(lake, fetched_at=day(0), fans=[fan(1), fan(2), fan(3, subscribe_at=day(1)),
                                              fan(4, subscribe_at=day(-100))],
               transactions=[txn("t1", 1, 60, day(3)), txn("t2", 2, 250, day(-30))],
               messages=[(3, message(1, 3, day(8), from_fan=True))])
    defs = definitions_at(home)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("creators", [OTHER, CREATOR])
        requests, results = [], []
        for at in TICKS:
            data = tick(defs, instance, at)
            requests.append(list(data.run_requests))
            mine = next(r for r in data.run_requests if r.partition_key == CREATOR)
            results.append(execute(defs, instance, mine))
        yield Scheduled(defs, instance, lake, requests, results)


def published(lake, sql, *params):
    con = duckdb.connect(str(lake.paths.analysts_marts), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_a_tick_requests_one_run_per_creator_as_of_the_tick(scheduled):
    first = scheduled.requests[0]
    assert sorted(r.partition_key for r in first) == [OTHER, CREATOR]
    assert {r.tags[AS_OF_TAG] for r in first} == {TICKS[0].isoformat()}
    assert len({r.run_key for r in first + scheduled.requests[1]}) == 4


def test_stages_decay_without_new_data(scheduled):
    rows = published(scheduled.lake, "SELECT fan_id, stage, stage_updated_at, as_of "
                     "FROM marts.fan_profile ORDER BY fan_id")
    # Day 40: fan 1's purchase was 37 days ago, fan 2's 70, fan 3 wrote 32 days ago, fan 4
    # subscribed 140 days ago and never did anything (churned since 60 days after subscribing).
    assert rows == [(1, "at_risk", TICKS[1], TICKS[1]), (2, "churned", TICKS[1], TICKS[1]),
                    (3, "at_risk", TICKS[1], TICKS[1]), (4, "churned", day(-40), TICKS[1])]
    changes = published(scheduled.lake, "SELECT fan_id, from_stage, to_stage, occurred_at "
                        "FROM marts.fan_lifecycle_events WHERE event_type = 'stage_change' "
                        "ORDER BY event_seq")
    # The first tick dates each fan's first stage when he entered it (in the order they
    # happened): fan 4 60 days after subscribing, fan 2 30 days after his purchase, fan 1 at
    # his purchase, fan 3 at his message (new had just ended); the second tick dates changes.
    assert changes == [
        (4, None, "churned", day(-40)), (2, None, "at_risk", day(0)),
        (1, None, "active_buyer", day(3)), (3, None, "warming", day(8)),
        (1, "active_buyer", "at_risk", TICKS[1]), (2, "at_risk", "churned", TICKS[1]),
        (3, "warming", "at_risk", TICKS[1]),
    ]


def test_recomputed_stages_equal_what_the_schedule_recorded(scheduled):
    log = log_path(scheduled.lake, CREATOR)
    con = duckdb.connect()
    for at in TICKS:
        recorded = dict(con.execute(
            "SELECT fan_id, arg_max(to_stage, event_seq) FROM read_parquet(?) "
            "WHERE event_type = 'stage_change' AND occurred_at <= ? GROUP BY fan_id",
            [[str(path) for path in mart_files(log)], at]).fetchall())
        assert stages_as_of(scheduled.lake, CREATOR, at) == recorded
    con.close()


def test_the_same_tick_run_again_appends_nothing(scheduled):
    before = published(scheduled.lake, "SELECT * FROM marts.fan_lifecycle_events ORDER BY event_seq")
    again = next(r for r in scheduled.requests[1] if r.partition_key == CREATOR)
    result = execute(scheduled.defs, scheduled.instance, again)
    (mat,) = [e.materialization for e in result.get_asset_materialization_events()
              if e.asset_key == dg.AssetKey(["marts", "fan_lifecycle_events"])]
    assert mat.metadata["appended"].value == 0
    after = published(scheduled.lake, "SELECT * FROM marts.fan_lifecycle_events ORDER BY event_seq")
    assert after == before and len(after) > 0


def test_column_descriptions_travel_as_metadata(scheduled):
    mats = {e.asset_key.to_user_string(): e.materialization
            for e in scheduled.results[-1].get_asset_materialization_events()}
    events_schema = mats["marts/fan_lifecycle_events"].metadata["dagster/column_schema"].value
    described = {c.name: c.description for c in events_schema.columns}
    assert described == column_descriptions("marts/fan_lifecycle_events")
    stage_schema = mats["intermediate/fan_stage"].metadata["dagster/column_schema"].value
    assert all(c.description for c in stage_schema.columns)
    # The UI shows the dictionary for fan_profile from its definition, before any run.
    spec = scheduled.defs.resolve_assets_def(["marts", "fan_profile"]).get_asset_spec(
        dg.AssetKey(["marts", "fan_profile"]))
    columns = spec.metadata["dagster/column_schema"].columns
    assert [(c.name, c.description) for c in columns] == [
        (c.name, c.description) for c in FAN_PROFILE.columns]


def test_report_renders_from_a_real_materialization(scheduled):
    result = scheduled.defs.resolve_job_def("system_report").execute_in_process(
        instance=scheduled.instance)
    (mat,) = [e.materialization for e in result.get_asset_materialization_events()]
    markdown = mat.metadata["report"].value
    stages = dict(published(scheduled.lake,
                            "SELECT stage, count(*) FROM marts.fan_profile GROUP BY 1"))
    assert stages == {"at_risk": 2, "churned": 2}
    assert "| at_risk | 2 | 50.0% |" in markdown and "| churned | 2 | 50.0% |" in markdown
    counts = published(scheduled.lake,
                       "SELECT layer, table_name, row_count FROM marts.system_stats")
    for layer, table, n in counts:
        assert f"| {layer} | {table} | {n:,} |" in markdown
    last_run = rf"\| Stage decay \| .* \| \d{{4}}-\d\d-\d\d \d\d:\d\d UTC \({CREATOR}\) \| success \|"
    assert re.search(last_run, markdown)
    assert "| Batch sync |" in markdown and "| never |" in markdown  # creator_sync never ran here
    assert "`time_waster_score`" in markdown  # what is tracked per fan

    page = mat.metadata["html"].value
    html = Path(page).read_text(encoding="utf-8")
    assert page.endswith("report/index.html") and "http" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    svgs = [ET.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S)]
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r.find(f"{ns}title").text for r in svgs[0].findall(f"{ns}rect")]
    assert len(bars) == 90  # every day of the last 90, up to the latest purchase
    assert bars[-1] == f"{day(3).date()}: $60.00"  # fan 1's purchase
    assert f"{day(-30).date()}: $250.00" in bars and bars[0].endswith(": $0.00")
    stage_bars = {r.find(f"{ns}title").text for r in svgs[1].findall(f"{ns}rect")}
    assert {"at_risk: 2", "churned: 2", "new: 0"} <= stage_bars


# Servers, subprocesses and schedule ticks over whole syncs: `make test-slow`, CI's second step.
pytestmark = pytest.mark.slow
