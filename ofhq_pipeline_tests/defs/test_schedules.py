"""The periodic sync, evaluated as the daemon evaluates its ticks, over runs recorded in a real
Dagster instance at chosen instants: every creator within the staleness target, never-synced and
oldest first, bounded by the run slots and the API's request budget."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from ofhq_pipeline.definitions import build_definitions
from ofhq_pipeline.defs.partitions import CREATOR_NAME_TAG
from ofhq_pipeline.defs.source.schedules import ROTATION_TAG, periodic_sync_schedule, sync_history
from ofhq_pipeline.resources.api import OfapiResource
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.rotation import RotationSettings
from ofhq_pipeline.settings import Paths
from ofhq_pipeline.source.budget import ApiBudget, budget_path
from ofhq_pipeline_tests.servers import free_port, serve_app
from ofhq_pipeline_tests.sync_runs import (
    STAGED,
    finish_sync,
    record_sync,
    start_marts,
    start_sync,
)

START = datetime(2026, 11, 1, tzinfo=UTC)
T0 = START.timestamp()
MIN = 60.0
DEFS = build_definitions()
JOB = DEFS.resolve_job_def("creator_sync")
MARTS = DEFS.resolve_job_def("creator_marts")


def api_answering(status: int) -> Starlette:
    async def accounts(request):
        return JSONResponse({"data": []} if status < 400 else {"error": "down"}, status_code=status)

    return Starlette(routes=[Route("/api/accounts", accounts)])


@pytest.fixture(scope="module")
def api_up():
    """The API the schedule checks before launching."""
    with serve_app(api_answering(200)) as url:
        yield url


class TickClockOfapi(OfapiResource):
    """The API resource with its request budget on the ticks' clock: the ticks are simulated,
    so the budget's minute must be too."""

    clock_at: float = T0

    def budget(self) -> ApiBudget:
        return dataclasses.replace(super().budget(), clock=lambda: self.clock_at)


def at(minute: float) -> float:
    return T0 + minute * MIN


def shared_budget(rate: int, minute: float) -> ApiBudget:
    """The deployment's budget file, seen from another process at `minute`."""
    return ApiBudget(budget_path(Paths.from_env().lake), rate, clock=lambda: at(minute))


def evaluate(instance: dg.DagsterInstance, minute: float, api_url: str,
             rotation: RotationSettings, *, log: list[str] | None = None, launch: bool = True,
             ) -> list[dg.RunRequest] | dg.SkipReason:
    """One tick at START + `minute`; with `launch`, each request then becomes a running sync of
    its creator, started at the tick, as the daemon and a run worker would make it."""
    with dg.build_schedule_context(  # closed after the tick, as the daemon closes it
        instance=instance,
        scheduled_execution_time=START + timedelta(minutes=minute),
        repository_def=DEFS.get_repository_def(),
        resources={"ofapi": TickClockOfapi(base_url=api_url, clock_at=at(minute)),
                   "lake": LakeResource(), "rotation": rotation},
    ) as context:
        if log is not None:
            context.log.addHandler(ListHandler(log))
        data = periodic_sync_schedule.evaluate_tick(context)
    if data.skip_message:
        return dg.SkipReason(data.skip_message)
    for request in data.run_requests if launch else []:
        start_sync(instance, JOB, request.partition_key, at(minute), tags=request.tags)
    return list(data.run_requests)


class ListHandler(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__()
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


@pytest.fixture
def tick(api_up):
    def run(instance, minute, *, api_url=api_up, target=45, concurrent=2, per_sync=10, log=None,
            launch=True):
        rotation = RotationSettings(staleness_target_minutes=target,
                                    max_concurrent_syncs=concurrent, requests_per_sync=per_sync)
        return evaluate(instance, minute, api_url, rotation, log=log, launch=launch)

    return run


def launched(result) -> list[str]:
    assert not isinstance(result, dg.SkipReason), result.skip_message
    return [request.partition_key for request in result]


def finish_all(instance: dg.DagsterInstance, minute: float) -> None:
    for record in instance.get_run_records(
        filters=dg.RunsFilter(job_name="creator_sync", statuses=[dg.DagsterRunStatus.STARTED])
    ):
        finish_sync(instance, record.dagster_run.run_id, at(minute))


def test_no_creators_yet_skips(instance, tick):
    assert isinstance(tick(instance, 0), dg.SkipReason)


def test_never_synced_creators_go_first_then_the_oldest_and_only_those_due(instance, tick):
    instance.add_dynamic_partitions("creators", ["acct_a", "acct_b", "acct_c", "acct_d",
                                                 "acct_e"])
    for creator, age in (("acct_a", 50), ("acct_b", 10), ("acct_c", 44)):  # minutes old
        record_sync(instance, JOB, creator, at(-age), at(-age) + 30)  # syncs take 30 s
    result = tick(instance, 0, concurrent=10)
    # acct_c (44 min) would pass 45 before a sync launched at the next tick could land;
    # acct_b (10 min) can wait.
    assert launched(result) == ["acct_d", "acct_e", "acct_a", "acct_c"]
    assert [r.run_key for r in result] == [f"{c}@{int(T0)}" for c in launched(result)]
    assert all(r.tags[ROTATION_TAG] == "periodic" for r in result)


def test_launches_only_into_free_run_slots_counting_syncs_in_flight(instance, tick):
    creators = [f"acct_{c}" for c in "abcde"]
    instance.add_dynamic_partitions("creators", creators)
    start_sync(instance, JOB, "acct_a", at(-1))  # a sync started by hand, still running
    assert launched(tick(instance, 0)) == ["acct_b"]  # 2 slots, 1 taken; acct_a is covered
    held = tick(instance, 1)
    assert isinstance(held, dg.SkipReason) and "held by the run slots" in held.skip_message
    finish_all(instance, 2)
    assert launched(tick(instance, 3)) == ["acct_c", "acct_d"]
    assert instance.get_runs_count(dg.RunsFilter(
        job_name="creator_sync", statuses=[dg.DagsterRunStatus.STARTED])) == 2


def test_a_rotation_keeps_every_creator_within_the_target_and_syncs_none_early(instance, tick):
    """Nine creators, syncs of 5 minutes, 2 at a time, 135 minutes of ticks: once synced, no creator's
    data is ever older than 45 minutes when its next sync lands, and none is synced sooner than
    the target requires."""
    creators = [f"acct_{i}" for i in range(9)]
    instance.add_dynamic_partitions("creators", creators)
    running: dict[str, tuple[str, float]] = {}  # creator → (run id, started)
    syncs: dict[str, list[tuple[float, float]]] = {c: [] for c in creators}
    for minute in range(135):
        for creator, (run_id, started) in list(running.items()):
            if minute - started >= 5:
                finish_sync(instance, run_id, at(minute))
                syncs[creator].append((started, minute))
                del running[creator]
        result = tick(instance, minute)
        if not isinstance(result, dg.SkipReason):
            for request in result:
                [record] = instance.get_run_records(
                    filters=dg.RunsFilter(tags={"dagster/partition": request.partition_key},
                                          statuses=[dg.DagsterRunStatus.STARTED]))
                running[request.partition_key] = (record.dagster_run.run_id, minute)
        assert len(running) <= 2
    for creator, done in syncs.items():
        assert len(done) >= 3, creator
        for (prev_start, _), (next_start, next_end) in zip(done, done[1:], strict=False):
            assert next_end - prev_start <= 45, (creator, done)  # fresh when the next lands
            assert next_start - prev_start >= 38, (creator, done)  # not synced early


def test_a_nearly_used_budget_launches_fewer(instance, tick, monkeypatch):
    """100 requests a minute and 30 a sync: a fresh minute pays for 3 syncs (the API probe
    takes one), a minute with 60 already spent by other runs for 1, with 80 spent for none."""
    monkeypatch.setenv("OFAPI_REQUESTS_PER_MINUTE", "100")
    creators = [f"acct_{c}" for c in "abcdef"]
    instance.add_dynamic_partitions("creators", creators)
    assert launched(tick(instance, 0, concurrent=6, per_sync=30)) == creators[:3]
    others = shared_budget(100, 10)
    for _ in range(60):
        others.take(wait=False)
    assert launched(tick(instance, 10, concurrent=6, per_sync=30)) == creators[3:4]
    others = shared_budget(100, 20)
    for _ in range(80):
        others.take(wait=False)
    held = tick(instance, 20, concurrent=6, per_sync=30)  # 19 left after the probe: no sync
    assert isinstance(held, dg.SkipReason)
    assert "acct_e and 1 more due, none launched: held by the API budget" in held.skip_message


def test_an_exhausted_budget_skips_the_tick_without_waiting(instance, tick, monkeypatch):
    monkeypatch.setenv("OFAPI_REQUESTS_PER_MINUTE", "100")
    instance.add_dynamic_partitions("creators", ["acct_a"])
    others = shared_budget(100, 0)
    for _ in range(100):
        others.take(wait=False)
    skipped = tick(instance, 0)
    assert isinstance(skipped, dg.SkipReason)
    assert "acct_a not synced yet: the API request budget is used up" in skipped.skip_message
    assert launched(tick(instance, 1)) == ["acct_a"]  # a minute later the window is free


@pytest.mark.parametrize(("requests", "expected"), [(45, 2), (10, 5)])
def test_the_cost_of_a_sync_is_learned_from_the_newest_syncs(
    instance, tick, monkeypatch, requests, expected
):
    """Unset `requests_per_sync`: the raw assets' `requests` of the newest syncs decide how many
    syncs the budget's 99 free requests pay for."""
    monkeypatch.setenv("OFAPI_REQUESTS_PER_MINUTE", "100")
    creators = [f"acct_{c}" for c in "abcdefgh"]
    instance.add_dynamic_partitions("creators", creators)
    for n, creator in enumerate(creators[:3]):
        record_sync(instance, JOB, creator, at(-120 + n), at(-119 + n), requests=requests)
    assert len(launched(tick(instance, 0, concurrent=5, per_sync=None))) == expected


def test_a_tick_reads_the_run_storage_in_a_few_queries_whatever_the_number_of_creators(
    instance, tick, monkeypatch
):
    creators = [f"acct_{n:03d}" for n in range(40)]
    instance.add_dynamic_partitions("creators", creators)
    for n, creator in enumerate(creators):
        record_sync(instance, JOB, creator, at(-80 + n), at(-80 + n) + 20, requests=8)
    calls: list[str] = []
    for name in ("get_run_records", "get_records_for_run", "get_runs", "get_run_by_id"):
        original = getattr(dg.DagsterInstance, name)  # the tick opens its own instance

        def counted(self, *args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(dg.DagsterInstance, name, counted)
    assert len(launched(tick(instance, 0, per_sync=None, launch=False))) == 2
    assert calls.count("get_run_records") == 3  # in flight; the newest syncs; their marts runs
    assert calls.count("get_records_for_run") <= 3  # the cost of the newest syncs
    assert {"get_runs", "get_run_by_id"}.isdisjoint(calls)


def synced_with_marts(instance, creator: str, started: float, *, marts_s: float | None = 60,
                      failed: bool = False) -> str:
    """A 30 s sync of `creator` that staged something, then its marts run, as
    creator_marts_sensor launches it: lasting `marts_s` (None: still running), or failing."""
    sync_run = start_sync(instance, JOB, creator, started)
    finish_sync(instance, sync_run, started + 30, staged=STAGED)
    marts_run = start_marts(instance, MARTS, sync_run, started + 35)
    if marts_s is not None:
        finish_sync(instance, marts_run, started + 35 + marts_s, failed=failed)
    return marts_run


def test_a_marts_run_in_flight_holds_a_run_slot_and_covers_its_creator(instance, tick):
    """A sync is two runs: while the second (its creator's marts) is queued or running, it
    takes a run slot and its creator is not synced again."""
    instance.add_dynamic_partitions("creators", ["acct_a", "acct_b", "acct_c"])
    running = synced_with_marts(instance, "acct_a", at(-50), marts_s=None)  # an old sync
    assert launched(tick(instance, 0)) == ["acct_b"]  # 2 slots, 1 taken by acct_a's marts
    finish_sync(instance, running, at(0.5))
    finish_all(instance, 1)
    assert launched(tick(instance, 2)) == ["acct_c", "acct_a"]  # acct_a: 52 min old


def test_a_sync_whose_marts_run_failed_leaves_its_creator_due(instance, tick):
    """Its data never reached the marts: the creator is as old as his previous sync that did
    (a sync that staged nothing new needs no marts run and counts)."""
    instance.add_dynamic_partitions("creators", ["acct_a", "acct_b", "acct_c"])
    synced_with_marts(instance, "acct_a", at(-80))
    synced_with_marts(instance, "acct_a", at(-10), failed=True)
    synced_with_marts(instance, "acct_b", at(-10))
    record_sync(instance, JOB, "acct_c", at(-10), at(-10) + 30)  # nothing new: no marts run
    assert launched(tick(instance, 0, concurrent=3)) == ["acct_a"]


def test_a_sync_lasts_its_run_and_its_marts_run(instance):
    instance.add_dynamic_partitions("creators", ["acct_a", "acct_b"])
    synced_with_marts(instance, "acct_a", at(-20), marts_s=60)
    record_sync(instance, JOB, "acct_b", at(-10), at(-10) + 30)
    history = sync_history(instance, 2, learn_requests=False)
    assert sorted(history.durations_s) == [30.0, 90.0]  # 30 s alone; 30 s and 60 s of marts
    assert history.last_synced == {"acct_a": at(-20), "acct_b": at(-10)}


def test_the_tick_log_names_each_creator_older_than_the_target(instance, tick):
    instance.add_dynamic_partitions("creators", ["acct_a", "acct_b", "acct_c"])
    record_sync(instance, JOB, "acct_a", at(-70), at(-69))
    record_sync(instance, JOB, "acct_b", at(-5), at(-4))
    log: list[str] = []
    tick(instance, 0, log=log)
    assert any("2 creator(s) older than the 45-minute target: acct_c (never synced), "
               "acct_a (70 min old)" in line for line in log), log


def test_a_run_names_its_creator_beside_the_partition_id(instance, tick):
    """Partitions are account ids; the run carries the creator's username for the UI."""
    lake = LakeResource().lake()
    hostile = "x](http://evil.example)|\n| acct_z | admin"  # markup the API could send
    lake.write_accounts([{"id": "acct_a", "username": "lunastar"}, {"id": "acct_b"},
                         {"id": "acct_c", "username": hostile}], fetched_at=START)
    instance.add_dynamic_partitions("creators", ["acct_a", "acct_b", "acct_c"])
    first, second, third = tick(instance, 0, concurrent=3)
    assert first.tags[CREATOR_NAME_TAG] == "lunastar"
    assert CREATOR_NAME_TAG not in second.tags  # no username known: no tag, never a guess
    assert CREATOR_NAME_TAG not in third.tags  # not a plain handle: never shown


def test_the_history_survives_a_restart(tmp_path, tick):
    (tmp_path / "dh").mkdir()
    home = str(tmp_path / "dh")
    first = dg.DagsterInstance.local_temp(tempdir=home)
    first.add_dynamic_partitions("creators", ["acct_a", "acct_b", "acct_c"])
    assert launched(tick(first, 0)) == ["acct_a", "acct_b"]
    finish_all(first, 1)
    first.dispose()
    restarted = dg.DagsterInstance.local_temp(tempdir=home)
    assert launched(tick(restarted, 2)) == ["acct_c"]  # acct_a and acct_b are fresh
    restarted.dispose()


def test_creators_coming_and_going(instance, tick):
    instance.add_dynamic_partitions("creators", ["acct_a", "acct_b", "acct_c"])
    for creator in ("acct_a", "acct_b"):
        record_sync(instance, JOB, creator, at(-5), at(-4))
    record_sync(instance, JOB, "acct_c", at(-90), at(-89))
    instance.delete_dynamic_partition("creators", "acct_c")  # left, although long overdue
    instance.add_dynamic_partitions("creators", ["acct_new"])  # joined: never synced
    assert launched(tick(instance, 0)) == ["acct_new"]


@pytest.mark.parametrize("answer", ["refused", 503])
def test_an_unreachable_api_skips_the_tick_and_the_creators_keep_their_place(
    instance, tick, answer
):
    instance.add_dynamic_partitions("creators", ["acct_a", "acct_b", "acct_c"])
    assert launched(tick(instance, 0, concurrent=1)) == ["acct_a"]
    finish_all(instance, 1)
    if answer == "refused":
        skipped = tick(instance, 1, api_url=f"http://127.0.0.1:{free_port()}")
        assert "ConnectError" in skipped.skip_message
    else:
        with serve_app(api_answering(answer)) as down:
            skipped = tick(instance, 1, api_url=down)
        assert "HTTP 503" in skipped.skip_message
    assert isinstance(skipped, dg.SkipReason)
    assert "acct_b and 1 more not synced: the API does not answer" in skipped.skip_message
    assert instance.get_runs_count() == 1  # no run holds their real-time runs
    assert launched(tick(instance, 2, concurrent=1)) == ["acct_b"]


def test_a_throttling_api_still_gets_its_sync(instance, tick):
    instance.add_dynamic_partitions("creators", ["acct_a"])
    with serve_app(api_answering(429)) as throttling:
        assert launched(tick(instance, 0, api_url=throttling)) == ["acct_a"]


# Servers, subprocesses and schedule ticks over whole syncs: `make test-slow`, CI's second step.
pytestmark = pytest.mark.slow
