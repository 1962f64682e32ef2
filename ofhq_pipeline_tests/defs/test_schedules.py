"""The round-robin periodic sync, evaluated as the daemon would evaluate its ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from ofhq_pipeline.definitions import build_definitions
from ofhq_pipeline.defs.partitions import CREATOR_NAME_TAG
from ofhq_pipeline.defs.source.schedules import next_in_rotation, periodic_sync_schedule
from ofhq_pipeline.resources.api import OfapiResource
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline_tests.servers import free_port, serve_app

START = datetime(2026, 11, 1, tzinfo=UTC)
DEFS = build_definitions()


def api_answering(status: int) -> Starlette:
    async def accounts(request):
        return JSONResponse({"data": []} if status < 400 else {"error": "down"}, status_code=status)

    return Starlette(routes=[Route("/api/accounts", accounts)])


@pytest.fixture(scope="module")
def api_up():
    """The API the schedule checks before each tick."""
    with serve_app(api_answering(200)) as url:
        yield url


@pytest.fixture
def tick(api_up):
    def evaluate(instance: dg.DagsterInstance, n: int, api_url: str = api_up):
        return evaluate_tick(instance, n, api_url)

    return evaluate


def evaluate_tick(instance: dg.DagsterInstance, n: int, api_url: str) -> dg.RunRequest | dg.SkipReason:
    context = dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=START + timedelta(minutes=5 * n),
        repository_def=DEFS.get_repository_def(),
        resources={"ofapi": OfapiResource(base_url=api_url), "lake": LakeResource()},
    )
    data = periodic_sync_schedule.evaluate_tick(context)
    if data.skip_message:
        return dg.SkipReason(data.skip_message)
    (request,) = data.run_requests
    # What the daemon does with the request: a run of the job, tagged with its partition.
    job = DEFS.resolve_job_def("creator_sync")
    instance.create_run_for_job(
        job_def=job, tags={**request.tags, "dagster/partition": request.partition_key}
    )
    return request


def test_no_creators_yet_skips(instance, tick):
    assert isinstance(tick(instance, 0), dg.SkipReason)


def test_each_creator_in_turn_then_again(instance, tick):
    creators = [f"acct_{i}" for i in range(9)]
    instance.add_dynamic_partitions("creators", list(reversed(creators)))
    picked = [tick(instance, n).partition_key for n in range(18)]
    assert picked == creators + creators  # 9 creators × 5 minutes: each every 45 minutes


def test_a_run_names_its_creator_beside_the_partition_id(instance, tick):
    """Partitions are account ids; the run carries the creator's username for the UI."""
    lake = LakeResource().lake()
    hostile = "x](http://evil.example)|\n| acct_z | admin"  # markup the API could send
    lake.write_accounts([{"id": "acct_a", "username": "lunastar"}, {"id": "acct_b"},
                         {"id": "acct_c", "username": hostile}], fetched_at=START)
    instance.add_dynamic_partitions("creators", ["acct_a", "acct_b", "acct_c"])
    first, second, third = tick(instance, 0), tick(instance, 1), tick(instance, 2)
    assert first.tags[CREATOR_NAME_TAG] == "lunastar"
    assert CREATOR_NAME_TAG not in second.tags  # no username known: no tag, never a guess
    assert CREATOR_NAME_TAG not in third.tags  # not a plain handle: never shown


def test_cursor_survives_a_restart(tmp_path, tick):
    (tmp_path / "dh").mkdir()
    home = str(tmp_path / "dh")
    first = dg.DagsterInstance.local_temp(tempdir=home)
    first.add_dynamic_partitions("creators", ["acct_a", "acct_b", "acct_c"])
    assert [tick(first, n).partition_key for n in range(2)] == ["acct_a", "acct_b"]
    first.dispose()
    restarted = dg.DagsterInstance.local_temp(tempdir=home)
    assert tick(restarted, 2).partition_key == "acct_c"
    restarted.dispose()


def test_creators_coming_and_going_keep_the_rotation(instance, tick):
    instance.add_dynamic_partitions("creators", ["acct_a", "acct_c", "acct_e"])
    assert tick(instance, 0).partition_key == "acct_a"
    instance.add_dynamic_partitions("creators", ["acct_b"])  # joins after the cursor: next up
    instance.delete_dynamic_partition("creators", "acct_c")
    assert [tick(instance, n).partition_key for n in (1, 2, 3)] == ["acct_b", "acct_e", "acct_a"]


def test_next_in_rotation_when_the_last_creator_left():
    assert next_in_rotation(["acct_a", "acct_d"], "acct_c") == "acct_d"
    assert next_in_rotation(["acct_a", "acct_d"], "acct_z") == "acct_a"


@pytest.mark.parametrize("answer", ["refused", 503])
def test_an_unreachable_api_skips_the_tick_and_the_creator_keeps_its_turn(instance, tick, answer):
    instance.add_dynamic_partitions("creators", ["acct_a", "acct_b"])
    assert tick(instance, 0).partition_key == "acct_a"
    if answer == "refused":
        skipped = tick(instance, 1, api_url=f"http://127.0.0.1:{free_port()}")
        assert "ConnectError" in skipped.skip_message
    else:
        with serve_app(api_answering(answer)) as down:
            skipped = tick(instance, 1, api_url=down)
        assert "HTTP 503" in skipped.skip_message
    assert isinstance(skipped, dg.SkipReason) and "acct_b not synced" in skipped.skip_message
    assert instance.get_runs_count() == 1  # no run holds acct_b's real-time runs
    assert tick(instance, 2).partition_key == "acct_b"


def test_a_throttling_api_still_gets_its_sync(instance, tick):
    instance.add_dynamic_partitions("creators", ["acct_a"])
    with serve_app(api_answering(429)) as throttling:
        assert tick(instance, 0, api_url=throttling).partition_key == "acct_a"


# Servers, subprocesses and schedule ticks over whole syncs: `make test-slow`, CI's second step.
pytestmark = pytest.mark.slow
