"""The periodic sync at 200 creators: a rotation's length, requests per minute, orchestration
seconds per creator, and how many creators stay within the 45-minute target on this machine.

The simulator serves a 200-creator agency with 150 ms added to every API request. Syncing all
200 for real would take most of an hour, so a sample is synced for real through Dagster (first a
full sync of each, then an incremental re-sync, the steady state), and the rotation is then
played tick by tick: the real `periodic_sync_schedule` decides each minute against a real
Dagster instance, and each run it launches is recorded as lasting the measured median sync (a
sync's wall time covers its `creator_sync` run and the `creator_marts` run that follows it when
staging yielded anything, as `ofhq sync` runs them; the played rotation records the two as one
run). Measured figures and derived ones are printed apart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

import dagster as dg

from bench.instance import project_instance

CREATORS = int(os.environ.get("BENCH_ROTATION_CREATORS", "200"))
SAMPLE = int(os.environ.get("BENCH_ROTATION_SAMPLE", "6"))
LATENCY_S = float(os.environ.get("BENCH_ROTATION_LATENCY_MS", "150")) / 1000
API_KEY = "bench"
SIM_START = datetime(2026, 11, 2, tzinfo=UTC)


def with_latency(app, seconds: float):
    """The simulator app with `seconds` added to every API request (not its own /_sim routes),
    as a distant API would answer: the wait does not hold the server's event loop."""
    async def delayed(scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            await asyncio.sleep(seconds)
        await app(scope, receive, send)

    return delayed


@dataclasses.dataclass
class SyncFigures:
    """One real sync (both its runs): wall time, time inside HTTP fetches, requests."""

    wall_s: float
    fetch_s: float
    requests: int

    @property
    def orchestration_s(self) -> float:
        return self.wall_s - self.fetch_s


def timed_sync(defs, instance, creator: str) -> SyncFigures:
    from ofhq_pipeline.sync import sync_creator

    start = time.perf_counter()
    run = sync_creator(defs, instance, creator)
    wall = time.perf_counter() - start
    if not run.success:
        raise SystemExit(f"sync of {creator} failed: {run.error}")
    raw = [meta for key, meta in run.metadata.items() if key.startswith("raw/")]
    return SyncFigures(wall, sum(float(m.get("fetch_seconds", 0)) for m in raw),
                       sum(int(m.get("requests", 0)) for m in raw))


def medians(figures: list[SyncFigures]) -> SyncFigures:
    return SyncFigures(statistics.median(f.wall_s for f in figures),
                       statistics.median(f.fetch_s for f in figures),
                       round(statistics.median(f.requests for f in figures)))


def measure_syncs(defs, instance, creators: list[str]) -> tuple[list[SyncFigures], list[SyncFigures]]:
    """(first syncs, incremental re-syncs) of a sample, one after another."""
    full = [timed_sync(defs, instance, c) for c in creators]
    again = [timed_sync(defs, instance, c) for c in creators[: max(1, len(creators) // 2)]]
    return full, again


@dataclasses.dataclass
class Rotation:
    minutes: int  # simulated minutes until every creator was synced once
    launched: int
    tick_ms: list[float]  # real time one tick's evaluation took


def play_rotation(creators: list[str], api_url: str, sync: SyncFigures,
                  max_concurrent: int) -> Rotation:
    """Tick the real schedule each simulated minute until every creator has been synced once;
    each run it launches lasts `sync.wall_s` and costs `sync.requests` (given to the schedule as
    `requests_per_sync`, so the simulated runs need not record it)."""
    from ofhq_pipeline.definitions import build_definitions
    from ofhq_pipeline.defs.source.schedules import periodic_sync_schedule
    from ofhq_pipeline.resources.lake import LakeResource
    from ofhq_pipeline.resources.rotation import RotationSettings
    from ofhq_pipeline_tests.sync_runs import finish_sync, start_sync

    defs = build_definitions()
    job, repo = defs.resolve_job_def("creator_sync"), defs.get_repository_def()
    rotation = RotationSettings(max_concurrent_syncs=max_concurrent,
                                requests_per_sync=max(1, sync.requests))
    synced: set[str] = set()
    running: list[tuple[str, float]] = []  # (run id, ends at)
    ticks: list[float] = []
    launched = 0
    with project_instance() as instance:
        instance.add_dynamic_partitions("creators", creators)
        minute = 0
        while len(synced) < len(creators):
            now = (SIM_START + timedelta(minutes=minute)).timestamp()
            for run_id, ends in [r for r in running if r[1] <= now]:
                finish_sync(instance, run_id, ends)
                running.remove((run_id, ends))
            # Closed after its tick, as the daemon closes it: the context opens an instance of
            # its own, which otherwise stays the current one after it is gone, and the next
            # rotation's definitions then fail to load.
            with dg.build_schedule_context(
                instance=instance, scheduled_execution_time=SIM_START + timedelta(minutes=minute),
                repository_def=repo,
                resources={"ofapi": simulated_clock_api(api_url, now), "lake": LakeResource(),
                           "rotation": rotation}) as context:
                context.log.setLevel(logging.ERROR)  # its per-tick list of stale creators
                start = time.perf_counter()
                data = periodic_sync_schedule.evaluate_tick(context)
                ticks.append((time.perf_counter() - start) * 1000)
            for request in data.run_requests or []:
                run_id = start_sync(instance, job, request.partition_key, now, request.tags)
                running.append((run_id, now + sync.wall_s))
                synced.add(request.partition_key)
                launched += 1
            minute += 1
    last_end = max(ends for _, ends in running) if running else 0.0
    minutes = max(minute, round((last_end - SIM_START.timestamp()) / 60))
    return Rotation(minutes, launched, ticks)


def simulated_clock_api(api_url: str, now: float):
    """The API resource with its request budget on the simulated clock."""
    from ofhq_pipeline.resources.api import OfapiResource

    class SimulatedClockApi(OfapiResource):
        def budget(self):
            return dataclasses.replace(super().budget(), clock=lambda: now)

    return SimulatedClockApi(base_url=api_url, api_key=API_KEY)


def print_measured(full: list[SyncFigures], again: list[SyncFigures]) -> None:
    for label, figures in (("first (full) syncs", full), ("incremental re-syncs", again)):
        m = medians(figures)
        total_requests = sum(f.requests for f in figures)
        total_minutes = sum(f.wall_s for f in figures) / 60
        print(f"measured, {len(figures)} {label}, one at a time: median {m.wall_s:.1f} s a sync, "
              f"of which {m.fetch_s:.1f} s inside HTTP fetches ({m.requests} requests × "
              f"{LATENCY_S * 1000:.0f} ms and more) → orchestration {m.orchestration_s:.1f} s a "
              f"creator; {total_requests / total_minutes:,.0f} requests/min for one run at a time")


def print_rotation(label: str, rotation: Rotation, creators: int, sync: SyncFigures,
                   concurrent: int) -> None:
    per_minute = rotation.launched * sync.requests / max(1, rotation.minutes)
    print(f"derived, {label} (max_concurrent_syncs {concurrent}, runs of {sync.wall_s:.1f} s): "
          f"every one of {creators} creators synced once in {rotation.minutes} min "
          f"({'within' if rotation.minutes <= 45 else 'over'} the 45-minute target), "
          f"{per_minute:,.0f} requests/min on average; schedule tick "
          f"{statistics.median(rotation.tick_ms):.0f} ms median (real, {len(rotation.tick_ms)} "
          f"ticks over {creators} creators)")


def main() -> None:
    from ofhq_pipeline.definitions import build_definitions
    from ofhq_pipeline.resources.api import DEFAULT_REQUESTS_PER_MINUTE
    from ofhq_pipeline.source.rotation import creators_kept_fresh
    from ofhq_pipeline.source.simulator import SimulatorServer, generate_agency
    from ofhq_pipeline.sync import discover

    agency = generate_agency(seed=7, scale=1.0, n_creators=CREATORS)
    server = SimulatorServer(agency, api_key=API_KEY)
    server.app = with_latency(server.app, LATENCY_S)
    print(f"== rotation ({CREATORS} creators, {LATENCY_S * 1000:.0f} ms per API request, "
          f"target 45 min, API budget {DEFAULT_REQUESTS_PER_MINUTE:,}/min)")
    with tempfile.TemporaryDirectory() as home, server as sim, \
            project_instance() as instance:
        os.environ.update(OFHQ_HOME=home, OFAPI_BASE_URL=sim.url, OFAPI_API_KEY=API_KEY,
                          OFHQ_AS_OF=agency.end.isoformat())
        defs = build_definitions()
        creators = discover(defs, instance)
        full, again = measure_syncs(defs, instance, creators[:SAMPLE])
        print_measured(full, again)
        first, steady = medians(full), medians(again)
        default = play_rotation(creators, sim.url, first, 2)
        print_rotation("first rotation", default, len(creators), first, 2)
        capacity = creators_kept_fresh(45, steady.wall_s, 2, DEFAULT_REQUESTS_PER_MINUTE,
                                       steady.requests)
        needed, _ = capacity.needed_for(len(creators))
        if needed and needed > 2:
            enough = play_rotation(creators, sim.url, first, needed)
            print_rotation("first rotation", enough, len(creators), first, needed)
    print(f"derived, capacity at the defaults from the incremental syncs ({steady.wall_s:.1f} s, "
          f"{steady.requests} requests): {capacity.kept_fresh} creators stay within 45 minutes "
          f"(limited by the {capacity.limited_by}: a slot starts one sync a minute); "
          f"{len(creators)} need max_concurrent_syncs {needed} "
          f"(and max_concurrent_runs ≥ {needed} in dagster.yaml)")
    if needed:
        more = creators_kept_fresh(45, steady.wall_s, needed, DEFAULT_REQUESTS_PER_MINUTE,
                                   steady.requests)
        print(f"derived, with max_concurrent_syncs {needed}: {more.kept_fresh} creators, if a "
              f"sync keeps its {steady.wall_s:.1f} s with {needed} at once on this machine's cores")


if __name__ == "__main__":
    main()
