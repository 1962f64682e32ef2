"""How a run's process starts: in a copy of a warm process, not in a fresh interpreter.

Dagster's code server (`dagster api grpc`, which the daemon and `dagster dev` start for
workspace.yaml) starts every run in a new process with multiprocessing's "spawn": a fresh Python
that imports Dagster and this code location again, about 3 to 4 s on 2 cores before the first
step of a real-time run. Here the code server's spawn context is pointed at a "forkserver"
whose server process has imported the code location once (`set_forkserver_preload`): each run
is then a fork of it, which starts in milliseconds with everything imported.

The forkserver is a single-threaded process of its own, started on the first run, so forking it
is safe where forking the threaded gRPC server would not be. The run still gets a process of its
own, its own Dagster instance and its own DuckDB connections; only the imports are shared.

Batch runs give way to real-time ones on the CPU: a run's process other than a real-time run's
lowers its own scheduling priority by OFHQ_BATCH_NICE (10; 0 keeps it), as `ofhq sync` does, so
when both want a core the purchase's run gets most of it. The queue already starts real-time runs
first (`dagster/priority`); this is the same order once they run.

It touches a Dagster internal (`DagsterApiServer._mp_ctx`, "spawn"), through the spawn context
it holds: the version is pinned, and `ofhq_pipeline_tests/defs/test_run_start.py` fails if the
code server stops starting runs through `multiprocessing.get_context("spawn")`. Set
OFHQ_RUN_START=spawn to keep Dagster's own behaviour.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections.abc import Mapping

log = logging.getLogger(__name__)

# Real-time runs carry `ofhq/trigger=webhook` (defs/realtime/jobs.py); every other run is batch.
TRIGGER_TAG, WEBHOOK_TRIGGER = "ofhq/trigger", "webhook"
REALTIME_JOB = "realtime_update"

ENV = "OFHQ_RUN_START"
NICE_ENV, DEFAULT_BATCH_NICE = "OFHQ_BATCH_NICE", 10
PRELOAD = ["ofhq_pipeline.definitions"]


def in_code_server() -> bool:
    """True in the main process of `dagster api grpc` (or `dagster code-server start`)."""
    args = sys.argv[1:4]
    return (multiprocessing.parent_process() is None
            and (args[:2] == ["api", "grpc"] or args[:2] == ["code-server", "start"]))


def start_runs_from_forkserver() -> bool:
    """In a code server, make its run processes forks of a warm forkserver; True if done."""
    if os.environ.get(ENV, "forkserver") != "forkserver" or not in_code_server():
        return False
    batch_niceness()  # a bad OFHQ_BATCH_NICE stops the code server now, not each batch run
    spawn = multiprocessing.get_context("spawn")
    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload(PRELOAD)
    # The code server's `_mp_ctx` is this very spawn context object: its Process is now the
    # forkserver's (its Queue and Event work across both: each is handed over at start).
    spawn.Process = RunProcess  # type: ignore[attr-defined]
    # Started now, not by the first run: that run would otherwise wait for the imports.
    from multiprocessing import forkserver as forkserver_process

    forkserver_process.ensure_running()
    log.info("runs start as forks of a warm forkserver (%s=spawn to turn off)", ENV)
    return True


def batch_niceness() -> int:
    """How much a batch process lowers its CPU priority (OFHQ_BATCH_NICE, 0 to 19)."""
    raw = os.environ.get(NICE_ENV, str(DEFAULT_BATCH_NICE))
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{NICE_ENV} must be a whole number from 0 to 19, not {raw!r}") from None
    if not 0 <= value <= 19:
        raise ValueError(f"{NICE_ENV} must be a whole number from 0 to 19, not {raw!r}")
    return value


def give_way_to_realtime() -> None:
    """Lower this (batch) process's CPU priority by OFHQ_BATCH_NICE."""
    if niceness := batch_niceness():
        os.nice(niceness)


class RunProcess(multiprocessing.context.ForkServerProcess):
    """A run's process, forked from the warm forkserver. The code server starts it with the
    run's reconstructable job as its second argument: unless that is the real-time job, the
    process gives way to real-time runs before the run starts."""

    def run(self) -> None:
        job = self._args[1] if len(self._args) > 1 else None  # type: ignore[attr-defined]
        if getattr(job, "job_name", REALTIME_JOB) != REALTIME_JOB:
            give_way_to_realtime()
        super().run()


def is_realtime(tags: Mapping[str, str]) -> bool:
    """Whether a run with these tags is a real-time run."""
    return tags.get(TRIGGER_TAG) == WEBHOOK_TRIGGER
