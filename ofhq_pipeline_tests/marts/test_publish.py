"""Publishing the analysts' file: a creator's run replaces only his rows, and the file always
equals one rebuilt whole from the lake's current marts."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import dagster as dg
import duckdb
import pytest

from ofhq_pipeline.defs.deployment import (
    DUCKDB_WRITER_POOL,
    K8S_INSTANCE,
    POSTGRES_INSTANCE,
    instance_config,
)
from ofhq_pipeline.lake import Lake, quote
from ofhq_pipeline.settings import Paths
from ofhq_pipeline.staging.merge import StagingMerge
from ofhq_pipeline.warehouse import publish as publishing


@pytest.fixture
def store(tmp_path) -> Lake:
    return Lake(Paths(home=tmp_path, warehouse=tmp_path / "warehouse.duckdb",
                      analysts_marts=tmp_path / "marts.duckdb"))


def write_mart(store: Lake, creator_id: str, run_id: str, table: str, select: str) -> None:
    path = store.mart_path(table, creator_id, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.execute(f"COPY ({select}) TO {quote(path)} (FORMAT parquet)")


def build_run(store: Lake, creator_id: str, run_id: str, spend: int,
              extra_column: bool = False) -> None:
    """One creator's run's marts: transactions (3 rows) and creators (1 row), not yet published."""
    extra = ", 'new' AS channel" if extra_column else ""
    write_mart(store, creator_id, run_id, "transactions",
               f"SELECT '{creator_id}' AS creator_id, 'tx_' || i AS transaction_id, "
               f"CAST({spend} + i AS BIGINT) AS amount_cents{extra} FROM range(3) t(i)")
    write_mart(store, creator_id, run_id, "creators",
               f"SELECT '{creator_id}' AS creator_id, CAST({spend} AS BIGINT) AS revenue_cents")


def run(store: Lake, creator_id: str, run_id: str, spend: int, extra_column: bool = False) -> None:
    """One creator's run, published."""
    build_run(store, creator_id, run_id, spend, extra_column)
    publishing.publish(store, creator_id, run_id)


def tables(path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {table: sorted(con.execute(f"SELECT * FROM marts.{table}").fetchall(), key=repr)
                for table in ("transactions", "creators")}
    finally:
        con.close()


def whole_rebuild(store: Lake, tmp_path) -> dict[str, list[tuple]]:
    other = tmp_path / "rebuilt" / "marts.duckdb"
    publishing.build_analysts_file(store, other, publishing.datetime.now(publishing.UTC))
    return tables(other)


def last_full_rebuild(store: Lake) -> str:
    return publishing.full_rebuilds(store)[str(store.paths.analysts_marts)]


def test_a_run_replaces_only_its_creators_rows(store, tmp_path):
    for creator_id, spend in [("acct_a", 100), ("acct_b", 200), ("acct_c", 300)]:
        run(store, creator_id, f"r1_{creator_id}", spend)
    built_whole_at = last_full_rebuild(store)
    run(store, "acct_b", "r2_acct_b", 900)

    published = tables(store.paths.analysts_marts)
    assert published == whole_rebuild(store, tmp_path)
    assert published["creators"] == [("acct_a", 100), ("acct_b", 900), ("acct_c", 300)]
    assert sorted(r[2] for r in published["transactions"] if r[0] == "acct_b") == [900, 901, 902]
    assert last_full_rebuild(store) == built_whole_at  # the later runs refreshed, not rebuilt


def test_a_mart_whose_columns_changed_rebuilds_the_file(store, tmp_path):
    run(store, "acct_a", "r1", 100)
    run(store, "acct_b", "r1b", 200)
    built_whole_at = last_full_rebuild(store)
    run(store, "acct_b", "r2b", 300, extra_column=True)

    assert last_full_rebuild(store) > built_whole_at
    con = duckdb.connect(str(store.paths.analysts_marts), read_only=True)
    rows = con.execute("SELECT creator_id, channel FROM marts.transactions "
                       "GROUP BY ALL ORDER BY creator_id").fetchall()
    con.close()
    assert rows == [("acct_a", None), ("acct_b", "new")]


def test_the_file_is_rebuilt_whole_once_an_hour(store, monkeypatch):
    run(store, "acct_a", "r1", 100)
    first = last_full_rebuild(store)
    run(store, "acct_a", "r2", 200)
    assert last_full_rebuild(store) == first
    monkeypatch.setattr(publishing, "FULL_REBUILD_EVERY", publishing.timedelta(0))
    run(store, "acct_a", "r3", 300)
    assert last_full_rebuild(store) > first
    assert tables(store.paths.analysts_marts)["creators"] == [("acct_a", 300)]


def test_a_publish_that_fails_leaves_its_marts_behind_staging(store, monkeypatch):
    """Until the analysts' file holds a run's marts, the creator's next run, with nothing new
    staged, still builds and publishes (a retry of the failed run included)."""
    run(store, "acct_a", "r1", 100)
    store.marts_behind("acct_a", staging_changed=True)  # a run staged something new
    build_run(store, "acct_a", "r2", 200)

    def full_disk(store, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publishing, "build_warehouse_catalog", full_disk)
    with pytest.raises(OSError):
        publishing.publish(store, "acct_a", "r2")
    assert store.marts_behind("acct_a", staging_changed=False)
    monkeypatch.undo()
    publishing.publish(store, "acct_a", "r2")
    assert not store.marts_behind("acct_a", staging_changed=False)
    assert tables(store.paths.analysts_marts)["creators"] == [("acct_a", 200)]


def system_stats(store: Lake) -> dict[str, int]:
    con = duckdb.connect(str(store.paths.analysts_marts), read_only=True)
    try:
        return {f"{layer}.{table}": n for layer, table, n in con.execute(
            "SELECT layer, table_name, row_count FROM marts.system_stats").fetchall()}
    finally:
        con.close()


def land_fans(store: Lake, creator_id: str, n: int) -> None:
    store.write_raw_batch("fans", creator_id, [{"id": i} for i in range(n)],
                          fetched_at=publishing.datetime.now(publishing.UTC), sync_mode="full")


def test_system_stats_counts_again_only_the_publishing_creators_files(store):
    for creator_id, fans in [("acct_a", 4), ("acct_b", 6)]:
        land_fans(store, creator_id, fans)
        run(store, creator_id, f"r1_{creator_id}", 100)
    assert system_stats(store)["raw.fans"] == 10
    land_fans(store, "acct_a", 5)  # landed, his run not published yet

    run(store, "acct_b", "r2_acct_b", 200)
    # acct_a's rows are as counted at his last publish: acct_b's publish read none of his files.
    assert system_stats(store)["raw.fans"] == 10
    run(store, "acct_a", "r2_acct_a", 300)
    assert system_stats(store)["raw.fans"] == 15
    assert system_stats(store) == publishing.lake_row_counts(store)  # everyone's, counted again
    assert system_stats(store)["marts.transactions"] == 6


@pytest.mark.parametrize("record", [
    "not json", '{"acct_a": {"raw.fans": -1000}}', '{"acct_a": {"raw.fans": "9"}}',
    '{"acct_a": []}', "[1, 2]",
])
def test_a_poisoned_row_count_record_is_counted_again_whole(store, record):
    land_fans(store, "acct_a", 4)
    run(store, "acct_a", "r1", 100)
    land_fans(store, "acct_b", 3)
    run(store, "acct_b", "r1b", 100)
    publishing.row_counts_path(store).write_text(record)
    # Nor does a folder whose name is no creator's stop it.
    stray = store.root / "raw" / "fans" / "not a creator" / "batch.parquet"
    stray.parent.mkdir()
    shutil.copyfile(store.raw_files("fans", "acct_a")[0], stray)

    run(store, "acct_b", "r2b", 200)
    assert system_stats(store)["raw.fans"] == 7


def test_a_batch_compacted_away_while_counting_is_listed_again(store, monkeypatch):
    """Staging compacts a creator's raw outside the publish lock: a batch listed for counting
    may be gone when its footer is read."""
    land_fans(store, "acct_a", 4)
    listed = publishing.creator_files
    gone = store.raw_dir("fans", "acct_a") / "2026-01-01T000000_gone.parquet"
    calls = []

    def first_with_a_vanished_batch(store, creator_id):
        files = listed(store, creator_id)
        calls.append(creator_id)
        return {**files, "raw.fans": [*files["raw.fans"], gone]} if len(calls) == 1 else files

    monkeypatch.setattr(publishing, "creator_files", first_with_a_vanished_batch)
    assert publishing.lake_row_counts(store)["raw.fans"] == 4
    assert len(calls) == 2


def catalog_rows(path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        views = con.execute("SELECT schema_name || '.' || view_name FROM duckdb_views() "
                            "WHERE NOT internal").fetchall()
        return {v: sorted(con.execute(f"SELECT * FROM {v}").fetchall(), key=repr) for (v,) in views}


def test_the_catalog_creates_again_only_the_views_whose_select_changed(store, tmp_path,
                                                                      monkeypatch):
    for creator_id, fans in [("acct_a", 4), ("acct_b", 6)]:
        land_fans(store, creator_id, fans)
        run(store, creator_id, f"r1_{creator_id}", 100)
    land_fans(store, "acct_a", 5)  # raw.fans reads a glob: its view needs no change
    created = []
    build = publishing.build_warehouse_catalog
    monkeypatch.setattr(publishing, "build_warehouse_catalog",
                        lambda store, target: created.append(build(store, target)))

    run(store, "acct_b", "r2_acct_b", 200)
    assert created == [["marts.transactions", "marts.creators"]]  # they list his new files
    incremental = catalog_rows(store.paths.warehouse)
    assert len(incremental["raw.fans"]) == 15
    whole = tmp_path / "whole.duckdb"
    assert set(build(store, whole)) == set(incremental)  # no record of it: every view created
    assert catalog_rows(whole) == incremental  # and it answers as the one kept up to date
    # A file that is not the one recorded (replaced by hand, or lost) is built whole.
    store.paths.warehouse.unlink()
    run(store, "acct_a", "r2_acct_a", 300)
    assert set(created[-1]) == set(incremental)


@pytest.mark.parametrize("stray", [b"", b"PAR1" + b"\x00" * 64 + b"PAR1"],
                         ids=["empty", "truncated"])
def test_a_file_that_is_not_parquet_stops_no_other_creators_publish(store, caplog, stray):
    """A stray or truncated `.parquet` in one creator's raw folder (his own staging fails on it,
    naming it) is left out of what publishing reads across creators, and named."""
    for creator_id, fans in [("acct_a", 4), ("acct_b", 6)]:
        land_fans(store, creator_id, fans)
        run(store, creator_id, f"r1_{creator_id}", 100)
    junk = store.raw_dir("fans", "acct_b") / "junk.parquet"
    junk.write_bytes(stray)
    store.paths.warehouse.unlink()  # the catalog is built whole
    publishing.record_full_rebuild(store, store.paths.analysts_marts,
                                   publishing.datetime(2000, 1, 1, tzinfo=publishing.UTC))

    run(store, "acct_a", "r2_acct_a", 300)  # the hourly whole rebuild: everyone's files counted
    assert last_full_rebuild(store) != "2000-01-01T00:00:00+00:00"
    assert system_stats(store)["raw.fans"] == 10  # both creators' readable batches
    assert tables(store.paths.analysts_marts)["creators"] == [("acct_a", 300), ("acct_b", 100)]
    views = catalog_rows(store.paths.warehouse)
    assert "raw.fans" not in views and len(views["marts.transactions"]) == 6
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(str(junk) in w and "system_stats" in w for w in warned), warned
    assert any(str(junk) in w and "raw.fans not created" in w for w in warned), warned

    # His own staging names it.
    with pytest.raises(duckdb.Error, match="junk.parquet"), store.session("acct_b") as con:
        StagingMerge(store, con, "acct_b").build("fans", full=False)

    junk.unlink()  # the operator removes it: the next publish creates the view
    run(store, "acct_b", "r2_acct_b", 200)
    assert len(catalog_rows(store.paths.warehouse)["raw.fans"]) == 10


# One creator's publish step in a process of its own, as a run's step is: it waits for the `go`
# file, so that both processes publish at the same moment.
PUBLISHER = r"""
import sys, time
from pathlib import Path
from ofhq_pipeline.warehouse import publish as publishing
from ofhq_pipeline.lake import Lake
from ofhq_pipeline.settings import Paths

home, creator_id, run_id, go = Path(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4])
store = Lake(Paths(home=home, warehouse=home / "warehouse.duckdb",
                   analysts_marts=home / "marts.duckdb"))
(go.parent / f"ready_{creator_id}").touch()
while not go.exists():
    time.sleep(0.001)
publishing.publish(store, creator_id, run_id)
"""


def test_two_creators_publishing_at_once_from_two_processes_both_keep_their_rows(store, tmp_path):
    run(store, "acct_a", "r1_a", 100)
    run(store, "acct_b", "r1_b", 200)  # the file exists: each publish below copies and refreshes it
    build_run(store, "acct_a", "r2_a", 111)
    build_run(store, "acct_b", "r2_b", 222)

    barrier = tmp_path / "barrier"
    barrier.mkdir()
    go = barrier / "go"
    publishers = [
        subprocess.Popen([sys.executable, "-c", PUBLISHER, str(store.paths.home), creator_id,
                          run_id, str(go)], stderr=subprocess.PIPE, text=True)
        for creator_id, run_id in [("acct_a", "r2_a"), ("acct_b", "r2_b")]
    ]
    try:
        while len(list(barrier.glob("ready_*"))) < 2 and all(p.poll() is None for p in publishers):
            time.sleep(0.01)
        go.touch()
        errors = [p.communicate(timeout=120)[1] for p in publishers]
    finally:
        for p in publishers:
            p.kill()
    assert [p.returncode for p in publishers] == [0, 0], errors

    published = tables(store.paths.analysts_marts)
    assert published["creators"] == [("acct_a", 111), ("acct_b", 222)]
    assert sorted(r[2] for r in published["transactions"]) == [111, 112, 113, 222, 223, 224]


def test_publishing_is_serialised_by_the_duckdb_writer_pool():
    from ofhq_pipeline.definitions import build_definitions

    defs = build_definitions()
    published = defs.get_assets_def(dg.AssetKey(["published", "analysts_marts"]))
    assert published.op.pool == DUCKDB_WRITER_POOL == "duckdb_writer"
    jobs = [job for job in defs.resolve_all_job_defs() if job.graph.has_node_named("publish_marts")]
    assert {"creator_marts", "realtime_update"} <= {job.name for job in jobs}
    for job in jobs:  # the step every run publishes through waits for a slot of the pool
        assert job.graph.node_named("publish_marts").definition.pool == DUCKDB_WRITER_POOL


# The local instance (one machine, SQLite storage) keeps publishers apart with the file lock
# alone, which `test_two_creators_publishing_at_once_from_two_processes_both_keep_their_rows`
# proves; the shared instances, whose runs may sit on several machines, add the pool.
@pytest.mark.parametrize("instance_file", [
    pytest.param(POSTGRES_INSTANCE, id="postgres"),
    pytest.param(K8S_INSTANCE, id="k8s"),
])
def test_the_instance_file_gives_the_pool_a_limit_of_one(instance_file):
    """A pool without a limit of its own takes `default_limit`; without one it has no limit."""
    pools = instance_config(instance_file).get("concurrency", {}).get("pools", {})
    assert pools.get("default_limit") == 1
    assert pools.get("granularity") == "op"  # per step: a run waits only at its publish step
