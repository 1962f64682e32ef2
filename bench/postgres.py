"""Production mode on PostgreSQL: `python -m bench.postgres` prints

1. Publish throughput of the marts to Postgres (rows per second): a fan_profile of 1M rows and
   60 columns of the real marts' kinds (BENCH_PG_ROWS), generated with DuckDB as a mart
   Parquet file in the lake's layout; first into an empty database, then as a creator's
   republish (DELETE his rows + COPY, one transaction).
2. Runs per hour on a Postgres-backed Dagster instance (deploy/dagster.postgres.yaml, the real
   daemon and run launcher): BENCH_PG_PARTITIONS creator partitions (6) of a small DuckDB-bound
   job (a per-creator model, then a publish step in the `duckdb_writer` pool), submitted at once,
   with at most one run at a time against the file's limits (parallel across creators).

Needs the PostgreSQL server at 127.0.0.1:5432 (BENCH_PG_ADMIN_URL); every database it creates
is dropped at the end. Also the code location of part 2: `defs` below.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import psycopg2
import yaml

from ofhq_pipeline.defs.deployment import DUCKDB_WRITER_POOL, POSTGRES_INSTANCE
from ofhq_pipeline.settings import PROJECT_ROOT

ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PARTITIONS = int(os.environ.get("BENCH_PG_PARTITIONS", "6"))
RUN_WORK_ROWS = int(os.environ.get("BENCH_PG_RUN_ROWS", "100000000"))

# ---- the code location of part 2 ---------------------------------------------------------

bench_creators = dg.StaticPartitionsDefinition([f"acct_bench_{i}" for i in range(PARTITIONS)])


def bench_dir() -> Path:
    return Path(os.environ.get("OFHQ_BENCH_DIR", tempfile.gettempdir())) / "ofhq_bench_runs"


@dg.asset(partitions_def=bench_creators, key=["bench", "creator_model"])
def creator_model(context) -> dg.MaterializeResult:
    """A creator's DuckDB model: aggregate a generated transactions table into a Parquet file
    of his own (2 DuckDB threads, as LakeResource runs them)."""
    path = bench_dir() / f"{context.partition_key}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"threads": 2})
    try:
        con.execute(
            f"COPY (SELECT i % 100000 AS fan_id, count(*) AS purchases, sum(i % 977) AS cents, "
            f"max(i) AS last FROM range({RUN_WORK_ROWS}) t(i) GROUP BY 1) "
            f"TO '{path}' (FORMAT parquet)"
        )
    finally:
        con.close()
    return dg.MaterializeResult(metadata={"path": str(path)})


@dg.asset(
    partitions_def=bench_creators,
    key=["bench", "publish"],
    deps=[creator_model],
    pool=DUCKDB_WRITER_POOL,
)
def publish_step(context) -> dg.MaterializeResult:
    """The shared DuckDB file every creator writes: serialised by the pool."""
    path = bench_dir() / "shared.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE TABLE IF NOT EXISTS fans (creator VARCHAR, fans BIGINT)")
        source = bench_dir() / f"{context.partition_key}.parquet"
        con.execute("DELETE FROM fans WHERE creator = ?", [context.partition_key])
        con.execute(
            f"INSERT INTO fans SELECT ?, count(*) FROM read_parquet('{source}')",
            [context.partition_key],
        )
    finally:
        con.close()
    return dg.MaterializeResult()


bench_creator_job = dg.define_asset_job(
    "bench_creator_job",
    selection=[creator_model, publish_step],
    executor_def=dg.in_process_executor,
)
defs = dg.Definitions(assets=[creator_model, publish_step], jobs=[bench_creator_job])

# ---- databases -----------------------------------------------------------------------------


def admin(statement: str) -> None:
    conn = psycopg2.connect(ADMIN_URL)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


@contextmanager
def scratch_database(label: str):
    """A fresh database; yields its SQLAlchemy URL (psycopg2 driver); dropped afterwards."""
    name = f"ofhq_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---- 1. publish throughput -----------------------------------------------------------------

# The real fan_profile's columns, then the kinds of columns later marts add (lifecycle, intent,
# classification, preferences, facts), up to 60.
FAN_PROFILE_COLUMNS = """
    'acct_bench' AS creator_id, i::BIGINT AS fan_id, 'u' || i AS username,
    CASE WHEN i % 3 = 0 THEN NULL ELSE 'Fan ' || i END AS name,
    (i * 37 % 500000)::BIGINT AS lifetime_spend_cents, (i * 29 % 400000)::BIGINT AS lifetime_net_cents,
    (i % 40)::BIGINT AS purchase_count, (i % 9000) / 3.0 AS avg_order_value_cents,
    (i % 20000)::BIGINT AS biggest_purchase_cents,
    TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_seconds(i % 100000000) AS first_purchase_at,
    TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i % 50000000) AS last_purchase_at,
    ['tip', 'message', 'post', 'subscription'][1 + i % 4] AS last_purchase_type,
    (i % 5000)::BIGINT AS last_purchase_cents, (i % 7000)::BIGINT AS tips_cents,
    (i % 11000)::BIGINT AS ppv_cents, (i % 3000)::BIGINT AS subscription_cents,
    (i % 900)::BIGINT AS post_cents, (i % 700)::BIGINT AS stream_cents,
    ['low', 'mid', 'high', 'whale'][1 + i % 4] AS price_range,
    ['ppv_buyer', 'tipper', 'subscriber_only', 'non_spender'][1 + i % 4] AS buyer_type,
    (i % 30)::BIGINT AS ppv_sent_count, (i % 12)::BIGINT AS ppv_bought_count,
    CASE WHEN i % 30 = 0 THEN NULL ELSE (i % 12) / (i % 30)::DOUBLE END AS conversion_rate,
    ['never', 'sometimes', 'always'][1 + i % 3] AS discount_sensitivity,
    (i % 3)::BIGINT AS chargeback_count, (i % 4)::BIGINT AS refund_count,
    i % 17 = 0 AS chargeback_risk,
    TIMESTAMPTZ '2023-01-01 00:00:00+00' + to_seconds(i % 60000000) AS subscribed_at,
    ['active', 'expired'][1 + i % 2] AS subscription_status,
    TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i % 30000000) AS subscription_expires_at,
    ['new', 'active', 'at_risk', 'churned'][1 + i % 4] AS lifecycle_stage,
    (i % 1000) / 1000.0 AS churn_risk, (i % 365)::INTEGER AS days_since_last_purchase,
    (i % 500)::BIGINT AS messages_from_fan, (i % 800)::BIGINT AS messages_to_fan,
    TIMESTAMPTZ '2026-06-01 00:00:00+00' + to_seconds(i % 10000000) AS last_message_at,
    (i % 4000)::BIGINT AS spend_30d_cents, (i % 9000)::BIGINT AS spend_90d_cents,
    (i % 20000)::BIGINT AS spend_365d_cents, (i % 1000) / 10.0 AS intent_score,
    ['buy_ppv', 'tip', 'browse', 'unsubscribe'][1 + i % 4] AS top_intent,
    ['casual', 'loyal', 'big_spender', 'bargain_hunter'][1 + i % 4] AS classification,
    (i % 100) / 100.0 AS classification_confidence,
    TIMESTAMPTZ '2026-10-01 00:00:00+00' + to_seconds(i % 1000000) AS classified_at,
    ['feet', 'cosplay', 'lingerie', 'custom_video'][1 + i % 4] AS preferred_content,
    ['US', 'GB', 'DE', 'CA', 'AU'][1 + i % 5] AS country,
    ['America/New_York', 'Europe/London', 'Europe/Berlin'][1 + i % 3] AS timezone,
    (i % 24)::INTEGER AS active_hour_utc, (i % 7)::INTEGER AS active_weekday,
    i % 5 = 0 AS is_online_recently, (i % 12)::INTEGER AS fact_count,
    CASE WHEN i % 10 = 0 THEN NULL ELSE 'likes ' || (i % 50) || ' things' END AS latest_fact,
    ['tip', 'ppv'][1:(1 + i % 2)] AS purchase_types, (i % 8)::INTEGER AS custom_requests,
    (i % 250000)::BIGINT AS custom_cents, (i % 6)::INTEGER AS renewals,
    (i % 100)::DECIMAL(5, 2) AS avg_discount_percent, i % 2 = 0 AS auto_renew,
    DATE '2026-01-01' + (i % 300)::INTEGER AS last_active_day,
    TIMESTAMPTZ '2026-11-01 00:00:00+00' AS as_of
"""


def write_fan_profile(root: Path, rows: int) -> tuple[Path, int]:
    """lake/marts/acct_bench/<run>/fan_profile.parquet, as a run writes it; (path, columns)."""
    path = root / "lake" / "marts" / "acct_bench" / uuid.uuid4().hex / "fan_profile.parquet"
    path.parent.mkdir(parents=True)
    con = duckdb.connect(config={"threads": 2})
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(
            f"COPY (SELECT {FAN_PROFILE_COLUMNS} FROM range({rows}) t(i)) TO '{path}' "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
        columns = len(con.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall())
    finally:
        con.close()
    return path, columns


def publish_throughput(rows: int) -> None:
    from ofhq_pipeline.warehouse.postgres_marts import publish_to_postgres

    root = Path(tempfile.mkdtemp(prefix="ofhq_bench_pg_"))
    try:
        start = time.perf_counter()
        path, columns = write_fan_profile(root, rows)
        print(f"generated fan_profile: {rows:,} rows × {columns} columns, "
              f"{path.stat().st_size / 2**20:.0f} MiB Parquet in {time.perf_counter() - start:.1f} s")
        marts = {"fan_profile": [path]}
        with scratch_database("publish") as url:
            prefix = f"bench{uuid.uuid4().hex[:6]}"
            try:
                first = publish_to_postgres(url, marts, None, role_prefix=prefix)
                print(f"publish into an empty database: {first.seconds:.1f} s, "
                      f"{first.rows['fan_profile'] / first.seconds:,.0f} rows/s")
                again = publish_to_postgres(url, marts, "acct_bench", role_prefix=prefix)
                print(f"republish of the creator (DELETE {rows:,} + COPY {rows:,}, one "
                      f"transaction): {again.seconds:.1f} s, "
                      f"{again.rows['fan_profile'] / again.seconds:,.0f} rows/s")
            finally:
                admin_drop_roles(prefix, url)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def admin_drop_roles(prefix: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn = psycopg2.connect(ADMIN_URL)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (f"{prefix}%",))
            for (role,) in cur.fetchall():
                cur.execute(f'DROP ROLE IF EXISTS "{role}"')
    finally:
        conn.close()


# ---- 2. runs per hour ----------------------------------------------------------------------


def instance_home(root: Path, max_concurrent_runs: int | None) -> Path:
    """deploy/dagster.postgres.yaml as it is, or with another run limit."""
    home = root / f"dagster_{max_concurrent_runs or 'deploy'}"
    home.mkdir(parents=True)
    config = yaml.safe_load(POSTGRES_INSTANCE.read_text())
    if max_concurrent_runs is not None:
        config["concurrency"]["runs"]["max_concurrent_runs"] = max_concurrent_runs
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    (home / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [{"python_module": {
        "module_name": "bench.postgres", "working_directory": str(PROJECT_ROOT)}}]}))
    return home


def wait_for(condition, timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def runs_per_hour(root: Path, max_concurrent_runs: int | None) -> tuple[float, float, int]:
    """(runs per hour, wall seconds from first submission to last finish, runs succeeded)."""
    bin_dir = Path(sys.executable).parent
    home = instance_home(root, max_concurrent_runs)
    with scratch_database("runs") as url:
        env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_PG_URL": url,
               "OFHQ_BENCH_DIR": str(home / "work")}
        os.environ.update(DAGSTER_PG_URL=url)
        daemon = subprocess.Popen(
            [str(bin_dir / "dagster-daemon"), "run", "-w", str(home / "workspace.yaml")],
            cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            with dg.DagsterInstance.from_config(str(home)) as instance:
                wait_for(lambda: "QUEUED_RUN_COORDINATOR" in instance.get_daemon_heartbeats(),
                         120, "the daemon")
                partitions = ",".join(bench_creators.get_partition_keys())
                subprocess.run(
                    [str(bin_dir / "dagster"), "job", "backfill", "-w",
                     str(home / "workspace.yaml"), "-j", "bench_creator_job",
                     "--partitions", partitions, "--noprompt"],
                    cwd=PROJECT_ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )

                def finished() -> bool:
                    records = instance.get_run_records()
                    return len(records) == PARTITIONS and all(
                        r.dagster_run.is_finished for r in records
                    )

                wait_for(finished, 900, "the runs", interval=1)
                records = instance.get_run_records()
                start = min(r.create_timestamp.timestamp() for r in records)
                end = max(r.end_time for r in records)
                succeeded = sum(r.dagster_run.is_success for r in records)
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait()
    wall = end - start
    return PARTITIONS / wall * 3600, wall, succeeded


def main() -> None:
    rows = int(float(os.environ.get("BENCH_PG_ROWS", "1000000")))
    print("== marts to PostgreSQL (COPY, one transaction per publish)")
    publish_throughput(rows)
    print(f"== runs per hour on a Postgres-backed Dagster instance: {PARTITIONS} creator "
          f"partitions, each {RUN_WORK_ROWS:,} rows through DuckDB then a publish step in pool "
          f"`{DUCKDB_WRITER_POOL}`; daemon + queued coordinator + a process per run, "
          f"{os.cpu_count()} cores")
    root = Path(tempfile.mkdtemp(prefix="ofhq_bench_runs_"))
    try:
        deployed = yaml.safe_load(POSTGRES_INSTANCE.read_text())["concurrency"]["runs"]
        results = []
        for limit, label in (
            (1, "one run at a time"),
            (None, f"in parallel (deploy: ≤{deployed['max_concurrent_runs']} runs, 1 per creator)"),
        ):
            per_hour, wall, ok = runs_per_hour(root, limit)
            results.append(per_hour)
            print(f"{label}: {per_hour:,.0f} runs/hour ({PARTITIONS} runs in {wall:.1f} s, "
                  f"{ok} succeeded)")
        print(f"parallel / one at a time: {results[1] / results[0]:.2f}×")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
