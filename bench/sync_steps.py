"""Steps per sync: what one creator's sync costs in Dagster steps and orchestration, on the demo
agency synced twice from the simulator: full, then incremental with nothing new.

A sync is its `creator_sync` run (raw → staging) and, when staging yielded anything, its
`creator_marts` run (everything past staging), as `ofhq sync` runs them; every figure covers
both. Per creator: the runs, the steps they executed (STEP_SUCCESS events) and those Dagster
skipped, the wall time of both, the time inside HTTP (the raw assets' `fetch_seconds`), the time
inside the work itself (the `seconds` each materialization reports: SQL models, and Python steps
once per step), and what is left, the orchestration: wall − HTTP − work.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from bench.instance import project_instance
from ofhq_pipeline import registry
from ofhq_pipeline.sync import CreatorRun


@dataclass(frozen=True)
class RunFigures:
    creator_id: str
    runs: int  # 1: creator_sync alone (nothing staged); 2: and its creator_marts run
    steps: int
    skipped: int
    wall_s: float
    http_s: float
    sql_s: float
    python_s: float

    @property
    def orchestration_s(self) -> float:
        return self.wall_s - self.http_s - self.sql_s - self.python_s


def is_sql_model(key: str) -> bool:
    found = registry.BY_KEY.get(key)
    return found is not None and found.is_sql


def seconds_of(run: CreatorRun, metadata_key: str, *, sql: bool | None = None) -> float:
    """The sum of one numeric metadata entry over the run's materializations (SQL models only,
    the others only, or all)."""
    return sum(float(meta.get(metadata_key) or 0) for key, meta in run.metadata.items()
               if sql is None or is_sql_model(key) == sql)


def figures(instance: dg.DagsterInstance, run: CreatorRun, wall_s: float) -> RunFigures:
    def count(event_type: dg.DagsterEventType) -> int:
        return sum(len(instance.get_records_for_run(run_id, of_type=event_type).records)
                   for run_id in run.run_ids)

    return RunFigures(
        creator_id=run.creator_id,
        runs=len(run.run_ids),
        steps=count(dg.DagsterEventType.STEP_SUCCESS),
        skipped=count(dg.DagsterEventType.STEP_SKIPPED),
        wall_s=wall_s,
        http_s=seconds_of(run, "fetch_seconds"),
        sql_s=seconds_of(run, "seconds", sql=True),
        python_s=seconds_of(run, "seconds", sql=False),
    )


def timed_sync(defs: dg.Definitions, instance: dg.DagsterInstance) -> list[RunFigures]:
    """Every creator synced once (after discovery), each sync's wall time (both its runs)
    measured from the end of the previous one, as `ofhq sync` runs them."""
    from ofhq_pipeline.sync import sync

    marks: list[float] = []
    runs = sync(defs, instance, on_start=lambda _: marks.append(time.perf_counter()),
                on_done=lambda _: marks.append(time.perf_counter()))
    failed = [r.error for r in runs if not r.success]
    assert not failed, failed
    walls = [end - start for start, end in zip(marks, marks[1:], strict=False)]
    return [figures(instance, run, wall) for run, wall in zip(runs, walls, strict=True)]


def print_sync(title: str, runs: list[RunFigures]) -> None:
    print(f"{title}:")
    print(f"  {'creator':<22} {'runs':>4} {'steps':>5} {'skipped':>7} {'wall s':>7} {'HTTP s':>7} "
          f"{'SQL s':>7} {'Python s':>8} {'orchestration s':>15}")
    for r in runs:
        print(f"  {r.creator_id:<22} {r.runs:>4} {r.steps:>5} {r.skipped:>7} {r.wall_s:>7.2f} "
              f"{r.http_s:>7.2f} {r.sql_s:>7.2f} {r.python_s:>8.2f} {r.orchestration_s:>15.2f}")
    print(f"  median orchestration per creator: "
          f"{statistics.median(r.orchestration_s for r in runs):.2f} s; steps per sync: "
          f"{statistics.median(r.steps for r in runs):.0f}; runs per sync: "
          f"{statistics.median(r.runs for r in runs):.0f}")


def main() -> None:
    from ofhq_pipeline.cli import demo_as_of, demo_shifts
    from ofhq_pipeline.definitions import build_definitions
    from ofhq_pipeline.source.simulator import SimulatorServer, generate_agency

    scale = float(os.environ.get("BENCH_SYNC_SCALE", "1"))
    agency = generate_agency(seed=7, scale=scale)  # the demo's agency
    as_of = demo_as_of(agency)
    with tempfile.TemporaryDirectory() as home, SimulatorServer(agency, api_key="bench") as sim, \
            project_instance() as instance:
        os.environ.update(OFHQ_HOME=home, OFAPI_BASE_URL=sim.url, OFAPI_API_KEY="bench",
                          OFHQ_AS_OF=as_of.isoformat())
        demo_shifts(agency, as_of, Path(home))  # the demo's chatter shifts, as `ofhq demo` sets
        defs = build_definitions()
        full = timed_sync(defs, instance)
        again = timed_sync(defs, instance)
    print(f"== steps per sync (demo agency, scale {scale}: {agency.accounts.height} creators; "
          "each sync counts its creator_sync run and, when staging yielded anything, its "
          "creator_marts run; orchestration = wall − HTTP − SQL models − Python steps)")
    print_sync("full sync", full)
    print_sync("incremental sync, nothing new", again)


if __name__ == "__main__":
    main()
