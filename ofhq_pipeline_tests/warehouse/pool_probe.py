"""Run by test_deploy in a process of its own: one partition of an asset in the `duckdb_writer`
pool, on the instance at DAGSTER_HOME, next to a second probe for the other partition.

No clocks are compared. While its step runs, a probe holds an exclusive lock on a file both
probes share (`POOL_PROBE_DIR`); a step that finds the lock taken prints OVERLAP and fails. And a
step does not end before the other probe is either waiting on the pool or done (or a minute has
passed without it): so when the pool does not serialise the two steps they overlap, and when it
does they never can. Each probe prints STEP when its step has run, and writes `done-<partition>`
when its run is over (succeeded or not), so the other never waits for a probe that is gone.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb

from ofhq_pipeline.defs.deployment import DUCKDB_WRITER_POOL

PARTITIONS = ("acct_a", "acct_b")
# How long a step holds the lock waiting for the other probe to show up (waiting on the pool, or
# done). A pool that does not serialise lets the other's step run meanwhile, which finds the lock
# taken; if the other has not even started by then, the step goes on alone (nothing to prove).
RENDEZVOUS_S = 60


def shared_dir() -> Path:
    return Path(os.environ["POOL_PROBE_DIR"])


def other_is_waiting_or_done(context: dg.AssetExecutionContext, other: str) -> bool:
    """The other probe's run is blocked on the pool (a pending, unassigned step of another run),
    or is over."""
    info = context.instance.event_log_storage.get_concurrency_info(DUCKDB_WRITER_POOL)
    waiting = info.pending_run_ids - {context.run.run_id}
    return bool(waiting) or (shared_dir() / f"done-{other}").exists()


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(list(PARTITIONS)), pool=DUCKDB_WRITER_POOL)
def shared_duckdb_write(context) -> dg.MaterializeResult:
    me = context.partition_key
    (other,) = [p for p in PARTITIONS if p != me]
    with (shared_dir() / "step.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"OVERLAP {me}: the step of {other} is running", flush=True)
            raise dg.Failure(f"{other}'s step is running: the pool did not serialise") from None
        (total,) = duckdb.sql("SELECT sum(i) FROM range(1000000) t(i)").fetchone()
        deadline = time.monotonic() + RENDEZVOUS_S
        while not other_is_waiting_or_done(context, other) and time.monotonic() < deadline:
            time.sleep(0.05)
        print(f"STEP {me}", flush=True)
        # The lock is released here, before the step ends and frees its slot.
    return dg.MaterializeResult(metadata={"total": int(total)})


if __name__ == "__main__":
    partition = sys.argv[1]
    try:
        with dg.DagsterInstance.get() as instance:
            result = dg.materialize([shared_duckdb_write], instance=instance,
                                    partition_key=partition, raise_on_error=False)
    finally:
        (shared_dir() / f"done-{partition}").touch()
    sys.exit(0 if result.success else 1)
