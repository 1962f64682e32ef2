"""The embedded default's Dagster storage (ofhq_pipeline/defs/sqlite_storage.py): Dagster's own
SQLite files, each opened once per process. Every test fails if Dagster stops connecting through
the methods it overrides, or if the files stop being Dagster's own."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from dagster._core.events.log import EventLogEntry

from ofhq_pipeline.defs import sqlite_storage
from ofhq_pipeline.defs.sqlite_storage import (
    OPEN_FILES,
    PooledSqliteEventLogStorage,
    PooledSqliteRunStorage,
    PooledSqliteScheduleStorage,
)
from ofhq_pipeline.settings import PROJECT_ROOT


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A DAGSTER_HOME with the project's dagster.yaml, as `make demo` and `ofhq` make it."""
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@dg.asset
def fans() -> int:
    return 3


@dg.asset
def purchases(fans: int) -> int:
    return fans * 2


@dg.asset_check(asset=purchases)
def purchases_are_counted() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def entry(run_id: str, message: str) -> EventLogEntry:
    return EventLogEntry(error_info=None, level=logging.INFO, user_message=message, run_id=run_id,
                         timestamp=time.time(), step_key=None, job_name=None, dagster_event=None)


def test_runs_write_dagsters_own_files_opening_each_once(home, monkeypatch):
    created: Counter[str] = Counter()
    create_engine = sa.create_engine

    def counting(url, **kwargs):
        created[str(url)] += 1
        return create_engine(url, **kwargs)

    monkeypatch.setattr(sa, "create_engine", counting)
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        assert isinstance(instance.run_storage, PooledSqliteRunStorage)
        assert isinstance(instance.schedule_storage, PooledSqliteScheduleStorage)
        runs = [dg.materialize([fans, purchases, purchases_are_counted], instance=instance)
                for _ in range(2)]
        assert all(run.success for run in runs)
        events = sum(len(instance.all_logs(run.run_id)) for run in runs)
    # Every run's own file and the asset index went through the pooled engines: one engine per
    # file for dozens of events (Dagster's own storage created one per event).
    shards = {str(home / "history" / "runs" / f"{run.run_id}.db") for run in runs}
    assert events > 40
    assert {url.removeprefix("sqlite:///") for url in created} >= shards | {
        str(home / "history" / "runs" / "index.db"), str(home / "history" / "runs.db")}
    assert max(created.values()) == 1, created

    # The files are Dagster's own: its default SQLite storage reads them as it wrote them.
    (home / "dagster.yaml").write_text(f"storage:\n  sqlite:\n    base_dir: {home}\n")
    with dg.DagsterInstance.get() as plain:
        assert type(plain.event_log_storage).__name__ == "SqliteEventLogStorage"
        assert {r.run_id for r in plain.get_runs()} == {run.run_id for run in runs}
        latest = plain.get_latest_materialization_event(dg.AssetKey("purchases"))
        assert latest is not None and latest.run_id == runs[-1].run_id
        assert sum(len(plain.all_logs(run.run_id)) for run in runs) == events


def test_the_daemon_keeps_at_most_a_few_files_open_and_loses_no_event(home):
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        run_ids = [str(uuid.uuid4()) for _ in range(OPEN_FILES + 3)]
        for run_id in run_ids:
            for n in range(3):
                storage.store_event(entry(run_id, f"event {n}"))
        open_files = storage.engines.open_urls()
        # The least recently written runs were closed (and checkpointed) first.
        assert len(open_files) == OPEN_FILES
        assert open_files[-1].endswith(f"{run_ids[-1]}.db")
        assert not any(url.endswith(f"{run_ids[0]}.db") for url in open_files)
        for run_id in run_ids:  # a closed file opens again for reading, every event in it
            assert [e.user_message for e in storage.get_logs_for_run(run_id)] == [
                "event 0", "event 1", "event 2"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_process_opens_its_own_and_leaves_its_parents_alone(home):
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        run_id = str(uuid.uuid4())
        storage.store_event(entry(run_id, "parent before"))
        url = storage.engines.open_urls()[-1]
        parent_engine = storage.engines.get(url)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the run worker's side of a fork
            ok = False
            try:
                storage.store_event(entry(run_id, "child"))
                ok = storage.engines.get(url) is not parent_engine
                sqlite_storage._dispose_all()  # what exit does: the child's own engines only
            finally:
                os.write(write, b"1" if ok else b"0")
                os._exit(0)
        os.close(write)
        assert os.read(read, 1) == b"1", "the child used its parent's engine"
        os.waitpid(pid, 0)
        assert storage.engines.get(url) is parent_engine  # untouched by the child's exit
        storage.store_event(entry(run_id, "parent after"))
        assert [e.user_message for e in storage.get_logs_for_run(run_id)] == [
            "parent before", "child", "parent after"]


EXITS = textwrap.dedent("""
    import dagster as dg
    from ofhq_pipeline_tests.defs.test_sqlite_storage import fans, purchases
    instance = dg.DagsterInstance.get()
    assert dg.materialize([fans, purchases], instance=instance).success
    print(instance.event_log_storage.engines.open_urls())
""")


def test_a_process_checkpoints_its_files_when_it_exits(home):
    # Open engines keep each file's write-ahead log; exiting closes them, which folds it back.
    done = subprocess.run([sys.executable, "-c", EXITS], cwd=PROJECT_ROOT, env=os.environ,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "index.db" in done.stdout  # it did hold files open
    left = [p.name for p in (home / "history").rglob("*-wal")]
    assert left == [], left


def test_a_stamped_file_is_taken_as_it_is_without_loading_dagsters_migrations(home, monkeypatch):
    with dg.DagsterInstance.get() as instance:  # creates and stamps every file
        run = dg.materialize([fans], instance=instance)
    loaded: list[str] = []
    from_config = ScriptDirectory.from_config.__func__

    def counting(cls, config, *args, **kwargs):
        loaded.append(config.config_file_name)
        return from_config(cls, config, *args, **kwargs)

    monkeypatch.setattr(ScriptDirectory, "from_config", classmethod(counting))
    # A run worker's start: a new instance on the same files, its run's file and the index.
    with dg.DagsterInstance.get() as worker:
        assert worker.get_run_by_id(run.run_id) is not None
        worker.event_log_storage.store_event(entry(run.run_id, "later"))
        assert worker.get_latest_materialization_event(dg.AssetKey("fans")) is not None
    assert loaded == []

    # A file that lost its revision goes through Dagster's own check, which stamps it again.
    with sqlite3.connect(home / "history" / "runs.db") as con:
        con.execute("DROP TABLE alembic_version")
    with dg.DagsterInstance.get() as again:
        assert again.get_run_by_id(run.run_id) is not None
    assert loaded
    with sqlite3.connect(home / "history" / "runs.db") as con:
        assert con.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)


def test_a_watcher_is_told_of_a_runs_events_as_they_are_written(home):
    # The UI's live run view: one process writes, another watches (here two instances).
    with dg.DagsterInstance.get() as writer, dg.DagsterInstance.get() as reader:
        run_id = str(uuid.uuid4())
        writer.event_log_storage.store_event(entry(run_id, "first"))
        seen: list[str] = []

        def told(event, _cursor) -> None:
            seen.append(event.user_message)

        reader.event_log_storage.watch(run_id, None, told)
        try:
            writer.event_log_storage.store_event(entry(run_id, "second"))
            # Still only in the write-ahead log: the writer holds its file open.
            assert (home / "history" / "runs" / f"{run_id}.db-wal").stat().st_size > 0
            deadline = time.monotonic() + 30  # reached only if the watcher is never told
            while "second" not in seen and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            reader.event_log_storage.end_watch(run_id, told)
        assert seen[:2] == ["first", "second"]


def test_a_wiped_instance_writes_into_new_files_not_into_the_deleted_ones(home):
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        run_id = str(uuid.uuid4())
        storage.store_event(entry(run_id, "before the wipe"))
        storage.wipe()
        assert not any(run_id in url for url in storage.engines.open_urls())
        storage.store_event(entry(run_id, "after the wipe"))
        assert [e.user_message for e in storage.get_logs_for_run(run_id)] == ["after the wipe"]
        assert (home / "history" / "runs" / f"{run_id}.db").exists()
