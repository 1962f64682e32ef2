"""The code location loads, in Python and in the real Dagster webserver started on workspace.yaml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest

from ofhq_pipeline.definitions import build_definitions
from ofhq_pipeline.settings import PROJECT_ROOT
from ofhq_pipeline_tests.servers import free_port

# Bounds the wait for the webserver to load the code location: reached only by a hang (a load
# that never ends), never by a slow machine.
HANG_S = 600

QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name
    locationOrLoadError { __typename
      ... on PythonError { message }
      ... on RepositoryLocation { repositories { name
          schedules { name } sensors { name }
          assetNodes { assetKey { path } }
          assetChecksOrError: assetNodes { assetChecksOrError { __typename
              ... on AssetChecks { checks { name } } } }
      } } } } } } }
"""


def expected() -> tuple[set[str], set[str], set[str], set[str]]:
    defs = build_definitions()
    repo = defs.get_repository_def()
    assets = {key.to_user_string() for key in repo.asset_graph.get_all_asset_keys()}
    checks = {key.name for key in repo.asset_graph.asset_check_keys}
    schedules = {s.name for s in repo.schedule_defs}
    sensors = {s.name for s in repo.sensor_defs}
    return assets, checks, schedules, sensors


def test_definitions_load_with_every_layer():
    # Which assets, checks, schedules and sensors: graph.snapshot.txt (test_graph_snapshot.py).
    dg.Definitions.validate_loadable(build_definitions())


def test_webserver_lists_every_asset_check_schedule_and_sensor(tmp_path):
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    webserver = Path(sys.executable).with_name("dagster-webserver")
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    log = tmp_path / "webserver.log"
    with log.open("wb") as out:  # a file, not a pipe: a pipe nobody reads could stall the server
        proc = subprocess.Popen(
            [str(webserver), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=out,
        )
    try:
        url = f"http://127.0.0.1:{port}/graphql"
        deadline = time.monotonic() + HANG_S
        while True:  # until the location is loaded (or failed to load): polled, no retry
            try:
                answer = httpx.post(url, json={"query": QUERY}, timeout=HANG_S).json()
                entries = answer["data"]["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["locationOrLoadError"]:
                    break
            except (httpx.HTTPError, KeyError, TypeError):
                pass
            assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
            assert time.monotonic() < deadline, f"hang: no code location after {HANG_S} s\n" + (
                log.read_text(errors="replace")[-4000:])
            time.sleep(0.5)
        (entry,) = entries
        location = entry["locationOrLoadError"]
        assert location["__typename"] == "RepositoryLocation", location.get("message")
        (repo,) = location["repositories"]
        assets, checks, schedules, sensors = expected()
        assert {"/".join(n["assetKey"]["path"]) for n in repo["assetNodes"]} == assets
        listed_checks = {
            check["name"]
            for node in repo["assetChecksOrError"]
            for check in node["assetChecksOrError"].get("checks", [])
        }
        assert listed_checks == checks
        assert {s["name"] for s in repo["schedules"]} == schedules
        assert {s["name"] for s in repo["sensors"]} == sensors
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# Servers, subprocesses and schedule ticks over whole syncs: `make test-slow`, CI's second step.
pytestmark = pytest.mark.slow
