"""What the real-time path tunes inside Dagster, checked against the pinned version: the sensor
loop and the queue's pace (`ofhq daemon`), and runs forked from a warm forkserver in the code
server (`run_start.py`). Each test fails if Dagster stops working the way the tuning assumes."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap

import dagster._daemon.controller as controller
import dagster._daemon.sensor as sensor_daemon
import pytest
from dagster._core.run_coordinator.queued_run_coordinator import QueuedRunCoordinator
from dagster._grpc.server import DagsterApiServer

from ofhq_pipeline.realtime.daemon import tune_dequeue, tune_sensor_loop, tune_workspace_reload
from ofhq_pipeline.run_start import PRELOAD, batch_niceness
from ofhq_pipeline.settings import PROJECT_ROOT


def test_the_daemon_reads_the_loop_and_the_queue_pace_it_tunes(monkeypatch):
    monkeypatch.setattr(sensor_daemon, "MIN_INTERVAL_LOOP_TIME", sensor_daemon.MIN_INTERVAL_LOOP_TIME)
    monkeypatch.setattr(controller, "RELOAD_WORKSPACE_INTERVAL", controller.RELOAD_WORKSPACE_INTERVAL)
    monkeypatch.setattr(QueuedRunCoordinator, "dequeue_interval_seconds",
                        QueuedRunCoordinator.__dict__["dequeue_interval_seconds"])
    # The sensor daemon paces its loop by the module constant, the controller builds the queue's
    # daemon from the coordinator's property: the two things `ofhq daemon` sets.
    assert "MIN_INTERVAL_LOOP_TIME" in inspect.getsource(sensor_daemon)
    assert "run_coordinator.dequeue_interval_seconds" in inspect.getsource(
        controller.create_daemon_of_type)
    # The controller reloads the workspace (a new code server) by the module constant.
    assert "RELOAD_WORKSPACE_INTERVAL" in inspect.getsource(
        controller.DagsterDaemonController.check_workspace_freshness)
    tune_sensor_loop(0.5)
    tune_dequeue(0.25)
    tune_workspace_reload(600)
    assert controller.RELOAD_WORKSPACE_INTERVAL == 600
    assert sensor_daemon.MIN_INTERVAL_LOOP_TIME == 0.5
    coordinator = QueuedRunCoordinator(dequeue_interval_seconds=1)
    assert coordinator.dequeue_interval_seconds == 0.25


def test_the_code_server_starts_runs_from_its_spawn_context():
    source = inspect.getsource(DagsterApiServer)
    assert 'self._mp_ctx = multiprocessing.get_context("spawn")' in source
    assert "self._mp_ctx.Process(" in source


PROBE = textwrap.dedent("""
    import json, multiprocessing, sys, time
    sys.argv = ["dagster", "api", "grpc", "--module-name", "ofhq_pipeline.definitions"]
    from ofhq_pipeline.run_start import start_runs_from_forkserver

    def child(queue):
        queue.put({"imported": "ofhq_pipeline.definitions" in sys.modules,
                   "started": time.perf_counter()})

    if __name__ == "__main__":
        done = start_runs_from_forkserver()
        ctx = multiprocessing.get_context("spawn")  # what the code server holds
        queue = ctx.Queue()
        warm = ctx.Process(target=child, args=(queue,))
        warm.start(); queue.get(timeout=120); warm.join()  # starts the forkserver
        started = time.perf_counter()
        run = ctx.Process(target=child, args=(queue,))
        run.start(); seen = queue.get(timeout=120); run.join()
        print(json.dumps({"done": done, "method": run._start_method or "",
                          "imported": seen["imported"], "seconds": seen["started"] - started}))
""")


@pytest.mark.slow  # imports the code location in a process of its own
def test_a_run_process_is_a_fork_of_a_warm_forkserver(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    out = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True,
                         cwd=PROJECT_ROOT, timeout=300, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["done"] and result["method"] == "forkserver"
    assert result["imported"], f"{PRELOAD} not imported before the run's code ran"
    # A fresh interpreter takes seconds to import the code location; a fork of the warm one
    # starts with it imported (the bound only catches a spawn in disguise, not a slow machine).
    assert result["seconds"] < 60


NICENESS = textwrap.dedent("""
    import json, multiprocessing, os, sys, types
    sys.argv = ["dagster", "api", "grpc", "--module-name", "ofhq_pipeline.definitions"]
    from ofhq_pipeline.run_start import start_runs_from_forkserver

    def child(queue, job):
        queue.put(os.nice(0))

    if __name__ == "__main__":
        assert start_runs_from_forkserver()
        ctx = multiprocessing.get_context("spawn")  # what the code server holds
        queue = ctx.Queue()
        seen = {}
        # The code server passes the run's reconstructable job second, as here its name.
        for job in ("realtime_update", "creator_sync", "creator_marts"):
            run = ctx.Process(target=child, args=(queue, types.SimpleNamespace(job_name=job)))
            run.start(); seen[job] = queue.get(timeout=120); run.join()
        print(json.dumps({"own": os.nice(0), **seen}))
""")


@pytest.mark.slow  # imports the code location in a process of its own
@pytest.mark.parametrize("setting, lowered", [(None, 10), ("4", 4), ("0", 0)])
def test_batch_runs_give_way_to_realtime_runs_on_the_cpu(tmp_path, setting, lowered):
    probe = tmp_path / "probe.py"
    probe.write_text(NICENESS)
    env = {k: v for k, v in os.environ.items() if k != "OFHQ_BATCH_NICE"}
    if setting is not None:
        env["OFHQ_BATCH_NICE"] = setting
    out = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True,
                         cwd=PROJECT_ROOT, env=env, timeout=300, check=True).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    own = seen["own"]
    assert seen["realtime_update"] == own
    assert seen["creator_sync"] == seen["creator_marts"] == min(own + lowered, 19)


@pytest.mark.parametrize("setting", ["-5", "20", "ten"])
def test_a_batch_niceness_out_of_range_is_refused_by_name(monkeypatch, setting):
    monkeypatch.setenv("OFHQ_BATCH_NICE", setting)
    with pytest.raises(ValueError, match="OFHQ_BATCH_NICE"):
        batch_niceness()
