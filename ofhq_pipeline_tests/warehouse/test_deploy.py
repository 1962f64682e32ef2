"""Production mode's Dagster instances: Postgres storage for real, the K8s one against Dagster's
own config schema (no cluster)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import psycopg2
import pytest
import yaml
from dagster._core.events import DagsterEventType

from ofhq_pipeline.defs.deployment import (
    DUCKDB_WRITER_POOL,
    K8S_INSTANCE,
    K8S_VALUES,
    POSTGRES_INSTANCE,
    instance_config,
    run_launcher_config,
    storage_url,
)
from ofhq_pipeline.settings import PROJECT_ROOT
from ofhq_pipeline.warehouse.db import libpq_dsn

PARTITION_LIMIT = [
    {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
]

creators = dg.StaticPartitionsDefinition(["acct_a", "acct_b"])


@dg.asset(partitions_def=creators, pool=DUCKDB_WRITER_POOL)
def small_duckdb_asset(context) -> dg.MaterializeResult:
    (n,) = duckdb.sql("SELECT count(*) FROM range(1000) t(i) WHERE i % 7 = 0").fetchone()
    return dg.MaterializeResult(metadata={"rows": int(n), "creator": context.partition_key})


def test_the_embedded_instance_retries_a_failed_real_time_run_and_no_batch_run():
    """Dagster's schema accepts the file, and only the real-time job asks for retries (the
    daemon's retry of a failing run: test_realtime.py, in `make test-slow`)."""
    from ofhq_pipeline.definitions import build_definitions

    assert instance_config(PROJECT_ROOT / "dagster.yaml")["run_retries"] == {
        "enabled": True, "max_retries": 0}
    asking = {job.name: job.tags.get("dagster/retry_strategy")
              for job in build_definitions().resolve_all_job_defs()
              if int(job.tags.get("dagster/max_retries", 0)) > 0}
    assert asking == {"realtime_update": "ALL_STEPS"}


@pytest.mark.postgres
def test_postgres_instance_stores_runs_and_events(tmp_path, pg_url, monkeypatch) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(POSTGRES_INSTANCE, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", pg_url)
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.run_coordinator.dequeue_interval_seconds == 1
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.tag_concurrency_limits == PARTITION_LIMIT
        pools = instance.get_concurrency_config().pool_config
        assert (pools.default_pool_limit, pools.pool_granularity.value) == (1, "op")

        result = dg.materialize([small_duckdb_asset], instance=instance, partition_key="acct_a")
        assert result.success
        run_id = result.run_id
        assert instance.get_materialized_partitions(small_duckdb_asset.key) == {"acct_a"}
        assert instance.event_log_storage.get_concurrency_info(DUCKDB_WRITER_POOL).limit == 1

    # Stored in that Postgres database, as any other process of the deployment will read it.
    conn = psycopg2.connect(libpq_dsn(pg_url))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
            assert cur.fetchone() == ("SUCCESS",)
            cur.execute(
                "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s "
                "AND dagster_event_type = ANY(%s) GROUP BY 1",
                (run_id, [DagsterEventType.RUN_SUCCESS.value, "ASSET_MATERIALIZATION"]),
            )
            assert dict(cur.fetchall()) == {
                DagsterEventType.RUN_SUCCESS.value: 1, "ASSET_MATERIALIZATION": 1,
            }
    finally:
        conn.close()

    # The pool serialises DuckDB writers across processes: two runs' steps never overlap. The
    # probes compare no clocks: a step holds a lock the other's step would find taken, and does
    # not end before the other is waiting on the pool (pool_probe.py), so a pool that does not
    # serialise fails every time, and one that does never fails.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        info = instance.event_log_storage.get_concurrency_info(DUCKDB_WRITER_POOL)
        assert (info.slot_count, info.claimed_slots, info.pending_steps) == (1, [], [])
    probe_dir = tmp_path / "pool_probe"
    probe_dir.mkdir()
    env = {**os.environ, "DAGSTER_PG_URL": pg_url, "DAGSTER_HOME": str(home),
           "POOL_PROBE_DIR": str(probe_dir)}
    printed = {
        partition: [line for line in out.splitlines() if line.startswith(("STEP ", "OVERLAP "))]
        for partition, out in run_probes(env, probe_dir).items()
    }
    assert printed == {"acct_a": ["STEP acct_a"], "acct_b": ["STEP acct_b"]}


def run_probes(env: dict[str, str], logs: Path) -> dict[str, str]:
    """Two concurrent probe runs, one per partition; the standard output of each (both must
    succeed). Output goes to files: a pipe nobody reads meanwhile could stall a probe; standard
    error to a file of its own, so a warning never lands inside a line the test reads."""
    probes = {}
    for partition in ("acct_a", "acct_b"):
        with (logs / f"{partition}.log").open("wb") as out, \
                (logs / f"{partition}.err").open("wb") as err:
            probes[partition] = subprocess.Popen(
                [sys.executable, "-m", "ofhq_pipeline_tests.warehouse.pool_probe", partition],
                cwd=PROJECT_ROOT, env=env, stdout=out, stderr=err,
            )
    try:
        codes = {partition: probe.wait(timeout=600) for partition, probe in probes.items()}
    finally:  # a hang: leave no probe behind
        for probe in probes.values():
            if probe.poll() is None:
                probe.kill()
                probe.wait()
    outputs = {p: (logs / f"{p}.log").read_text(errors="replace") for p in probes}
    for partition, code in codes.items():
        errors = (logs / f"{partition}.err").read_text(errors="replace")
        assert code == 0, (outputs[partition] + errors)[-4000:]
    return outputs


def require_dagster_k8s() -> None:
    """dagster-k8s (the `dev` and `k8s` extras) validates the K8s launcher's config: skip
    without it, except under CI=true, where its absence is a failure."""
    try:
        import dagster_k8s  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("dagster-k8s is not installed (CI=true: failing, not skipping)")
        pytest.skip("dagster-k8s is not installed")


def k8s_env(monkeypatch, host="db.internal", user="dagster", db="dagster") -> None:
    for name, value in {
        "DAGSTER_PG_HOST": host, "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": user,
        "DAGSTER_PG_PASSWORD": "not-checked", "DAGSTER_PG_DB": db,
    }.items():
        monkeypatch.setenv(name, value)


def test_k8s_instance_matches_dagster_schema(monkeypatch) -> None:
    require_dagster_k8s()
    k8s_env(monkeypatch)
    config = instance_config(K8S_INSTANCE)
    launcher = run_launcher_config(config)  # K8sRunLauncher.config_type(), env resolved
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    assert launcher["instance_config_map"] == "ofhq-dagster-instance"
    assert launcher["volume_mounts"] == [{"name": "ofhq-lake", "mountPath": "/data/ofhq"}]
    assert storage_url(config) == (
        "postgresql+psycopg2://dagster:not-checked@db.internal:5432/dagster"
    )
    assert config["concurrency"]["runs"]["tag_concurrency_limits"] == PARTITION_LIMIT
    assert config["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}
    assert config["run_coordinator"]["config"]["dequeue_interval_seconds"] == 1
    # The one-machine file validates too; its storage takes DAGSTER_PG_URL in any spelling of
    # the psycopg2 driver (test_postgres_urls.py).
    local = instance_config(POSTGRES_INSTANCE)
    assert local["storage"]["custom"] == {
        "module": "ofhq_pipeline.postgres_url", "class": "DagsterPostgresStorage",
        "config": {"postgres_url": {"env": "DAGSTER_PG_URL"}},
    }
    assert local["concurrency"]["runs"]["tag_concurrency_limits"] == PARTITION_LIMIT
    for instance in (config, local):  # a failed real-time run is run again; batch runs are not
        assert instance["run_retries"] == {"enabled": True, "max_retries": 0}

    # The Helm values describe the same instance.
    values = yaml.safe_load(K8S_VALUES.read_text())
    runs, pools = values["concurrency"]["runs"], values["concurrency"]["pools"]
    assert runs["maxConcurrentRuns"] == config["concurrency"]["runs"]["max_concurrent_runs"]
    assert runs["tagConcurrencyLimits"] == PARTITION_LIMIT
    assert {"default_limit": pools["defaultLimit"], "granularity": pools["granularity"]} == (
        config["concurrency"]["pools"]
    )
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queued["dequeueIntervalSeconds"] == 1
    retries = values["dagsterDaemon"]["runRetries"]
    assert {"enabled": retries["enabled"], "max_retries": retries["maxRetries"]} == (
        config["run_retries"]
    )
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    helm = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert [m["name"] for m in helm["envConfigMaps"]] == launcher["env_config_maps"]
    assert [s["name"] for s in helm["envSecrets"]] == launcher["env_secrets"]
    assert launcher["env_secrets"] == ["ofhq-run-secrets", "ofhq-landing"]
    assert helm["labels"] == launcher["labels"] == {"ofhq-role": "run"}
    assert helm["volumes"] == launcher["volumes"]
    assert helm["volumeMounts"] == launcher["volume_mounts"]
    assert helm["runK8sConfig"]["containerConfig"] == launcher["run_k8s_config"][
        "container_config"
    ]
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "ofhq_pipeline.definitions"]
    kinds = [doc["kind"] for doc in yaml.safe_load_all(
        (K8S_INSTANCE.parent / "resources.yaml").read_text())]
    assert kinds == ["PersistentVolumeClaim", "ConfigMap"]  # Secrets: `kubectl create secret`


KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: test, user: {token: not-a-token}}]
contexts: [{name: test, context: {cluster: test, user: test}}]
current-context: test
"""


@pytest.mark.postgres
def test_k8s_instance_loads_without_a_cluster(tmp_path, pg_url, monkeypatch) -> None:
    """The whole K8s instance, built by Dagster: Postgres storage on a real database, the
    K8sRunLauncher from a kubeconfig that names a cluster nobody contacts."""
    require_dagster_k8s()
    db = pg_url.rsplit("/", 1)[1]
    k8s_env(monkeypatch, host="127.0.0.1", user="postgres", db=db)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    config = yaml.safe_load(K8S_INSTANCE.read_text())
    config["run_launcher"]["config"].update(
        load_incluster_config=False, kubeconfig_file=str(tmp_path / "kubeconfig")
    )
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        launcher = instance.run_launcher
        assert type(launcher).__name__ == "K8sRunLauncher"
        assert launcher.job_namespace == "ofhq"
        assert launcher.instance_config_map == "ofhq-dagster-instance"
        assert launcher.postgres_password_secret == "ofhq-dagster-postgres"
        assert instance.get_runs() == []  # the storage answers from that database
