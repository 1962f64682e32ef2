"""A sync is two runs: `creator_sync` (raw → staging), then `creator_marts` (everything past
staging) only when staging yielded anything. Under the daemon `creator_marts_sensor` launches
the second, evaluated here tick by tick over real runs; `ofhq sync` runs both in process."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import duckdb
import pytest

from ofhq_pipeline.defs.source.jobs import SYNC_RUN_TAG
from ofhq_pipeline.lake import Lake
from ofhq_pipeline.resources.sync_settings import AS_OF_TAG, FULL_HISTORY_TAG
from ofhq_pipeline.settings import Paths
from ofhq_pipeline.sync import discover, quiet_logging, step_failure, sync_creator
from ofhq_pipeline_tests.conftest import API_KEY, point_at
from ofhq_pipeline_tests.sync_runs import marts_sensor_tick


@pytest.fixture(scope="module")
def agency():
    """One small creator: a sync of him takes seconds, and has every table."""
    from ofhq_pipeline.source.simulator import generate_agency

    return generate_agency(seed=3, n_creators=1, n_fans=25, n_transactions=120, n_messages=150)


@pytest.fixture
def api(agency):
    from ofhq_pipeline.source.simulator import SimulatorServer

    with SimulatorServer(agency, api_key=API_KEY) as server:
        yield server


def published_transactions(creator_id: str) -> int:
    con = duckdb.connect(str(Paths.from_env().analysts_marts), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM marts.transactions WHERE creator_id = ?",
                           [creator_id]).fetchone()[0]
    finally:
        con.close()


def runs_of(instance: dg.DagsterInstance, job_name: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(job_name=job_name)))


# ---- `ofhq sync`: in process ------------------------------------------------------------------
@pytest.mark.slow  # three syncs: the second CI step, `make test-slow`
def test_nothing_new_is_one_run_and_new_data_brings_the_marts_run(
    monkeypatch, tmp_path, agency, api, instance
):
    api.set_clock(agency.end - timedelta(days=30))
    defs = point_at(monkeypatch, api.url, tmp_path / "home", as_of=agency.end.isoformat())
    [creator] = discover(defs, instance)
    lake = Lake(Paths.from_env())

    first = sync_creator(defs, instance, creator)
    assert first.success, first.error
    assert first.marts_run_id is not None and first.run_ids == [first.run_id, first.marts_run_id]
    # The marts, published and current, are the marts run's own files.
    assert {rel.split("/")[-2] for rel in lake.read_manifest(creator).values()} == \
        {first.marts_run_id}
    before = published_transactions(creator)
    assert before > 0

    again = sync_creator(defs, instance, creator)  # the API has nothing new
    assert again.success, again.error
    assert again.marts_run_id is None and again.run_ids == [again.run_id]
    assert not [key for key in again.metadata if key.split("/")[0] != "raw"]  # staged nothing
    assert (len(runs_of(instance, "creator_sync")), len(runs_of(instance, "creator_marts"))) == \
        (2, 1)

    api.set_clock(agency.end)  # a month on: new purchases, fans and messages
    later = sync_creator(defs, instance, creator)
    assert later.success, later.error
    assert later.marts_run_id is not None
    assert (len(runs_of(instance, "creator_sync")), len(runs_of(instance, "creator_marts"))) == \
        (3, 2)
    marts_run = instance.get_run_by_id(later.marts_run_id)
    assert marts_run.tags[SYNC_RUN_TAG] == later.run_id
    assert marts_run.tags["dagster/partition"] == creator
    assert marts_run.tags[FULL_HISTORY_TAG] == "false"
    # Its metadata covers both runs: what was fetched, staged, and built.
    assert {"raw/transactions", "staging/transactions", "marts/fan_profile"} <= set(later.metadata)
    assert {rel.split("/")[-2] for rel in lake.read_manifest(creator).values()} == \
        {later.marts_run_id}
    assert published_transactions(creator) > before
    assert not lake.marts_behind(creator, staging_changed=False)  # the marts are current


# ---- under the daemon: the sensor -------------------------------------------------------------
def tick(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None):
    return marts_sensor_tick(instance, cursor, defs)


def run_sync(defs: dg.Definitions, instance: dg.DagsterInstance, creator: str,
             tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    """A creator_sync run alone, as the schedule launches it: the sensor decides what follows."""
    result = defs.resolve_job_def("creator_sync").execute_in_process(
        instance=instance, partition_key=creator, tags=tags, run_config=quiet_logging(),
        raise_on_error=False)
    assert result.success, step_failure(result)
    return result


@pytest.mark.slow  # two syncs and a sensor tick (13 s): the second CI step, `make test-slow`
def test_the_sensor_launches_the_marts_run_of_a_sync_that_staged_and_none_otherwise(
    monkeypatch, tmp_path, agency, api, instance
):
    defs = point_at(monkeypatch, api.url, tmp_path / "home")
    [creator] = discover(defs, instance)
    started = tick(defs, instance, None)  # a sensor's first tick sets its cursor
    assert started.run_requests == [] and "Initiating" in started.skip_message

    as_of = agency.end.isoformat()
    tags = {AS_OF_TAG: as_of, FULL_HISTORY_TAG: "false", "ofhq/rotation": "periodic",
            "ofhq/trigger": "webhook", "ofhq/rebuild_marts": "true"}
    first = run_sync(defs, instance, creator, tags)
    assert not [e for e in first.get_asset_materialization_events()
                if e.asset_key.path[0] not in ("raw", "staging")]  # nothing past staging yet
    evaluated = tick(defs, instance, started.cursor)
    [request] = evaluated.run_requests
    assert request.partition_key == creator
    assert request.run_key == f"marts:{first.run_id}"  # launched once, however often evaluated
    # The sync's instant and full-history flag (and the rotation the UI shows); not a tag that
    # would change what the marts run does, nor any run config.
    ofhq_tags = {k: v for k, v in request.tags.items() if not k.startswith("dagster/")}
    assert request.tags["dagster/partition"] == creator
    assert ofhq_tags == {SYNC_RUN_TAG: first.run_id, AS_OF_TAG: as_of,
                         FULL_HISTORY_TAG: "false", "ofhq/rotation": "periodic"}
    assert not request.run_config

    # The daemon launches it; it builds and publishes the creator's marts.
    marts = defs.resolve_job_def("creator_marts").execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags,
        run_config=quiet_logging(), raise_on_error=False)
    assert marts.success, step_failure(marts)
    assert published_transactions(creator) > 0
    assert tick(defs, instance, evaluated.cursor).run_requests == []  # a marts run asks nothing

    # The next sync finds nothing new: staging yields nothing, and no marts run is requested.
    again = run_sync(defs, instance, creator, {AS_OF_TAG: as_of})
    assert {e.asset_key.path[0] for e in again.get_asset_materialization_events()} == {"raw"}
    quiet = tick(defs, instance, evaluated.cursor)
    assert quiet.run_requests == []
    assert again.run_id in {reaction.dagster_run.run_id for reaction in
                            quiet.dagster_run_reactions}  # it was looked at


def test_a_full_history_sync_passes_its_flag_to_its_marts_run(monkeypatch, tmp_path, api, instance):
    defs = point_at(monkeypatch, api.url, tmp_path / "home")
    [creator] = discover(defs, instance)
    cursor = tick(defs, instance, None).cursor
    run_sync(defs, instance, creator, {})
    cursor = tick(defs, instance, cursor).cursor
    full = run_sync(defs, instance, creator, {FULL_HISTORY_TAG: "true"})
    [request] = tick(defs, instance, cursor).run_requests
    assert request.run_key == f"marts:{full.run_id}"
    assert request.tags[FULL_HISTORY_TAG] == "true"
