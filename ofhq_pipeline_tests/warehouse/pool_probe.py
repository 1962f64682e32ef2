"""Run by test_deploy in a process of its own: one partition of an asset in the `duckdb_writer`
pool, on the instance at DAGSTER_HOME; prints when its step ran."""

from __future__ import annotations

import sys
import time

import dagster as dg
import duckdb

from ofhq_pipeline.warehouse.deployment import DUCKDB_WRITER_POOL


@dg.asset(
    partitions_def=dg.StaticPartitionsDefinition(["acct_a", "acct_b"]), pool=DUCKDB_WRITER_POOL
)
def shared_duckdb_write(context) -> dg.MaterializeResult:
    start = time.time()
    (total,) = duckdb.sql("SELECT sum(i) FROM range(1000000) t(i)").fetchone()
    time.sleep(1.0)
    print(f"SPAN {context.partition_key} {start} {time.time()}", flush=True)
    return dg.MaterializeResult(metadata={"total": int(total)})


if __name__ == "__main__":
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize([shared_duckdb_write], instance=instance, partition_key=sys.argv[1])
    sys.exit(0 if result.success else 1)
