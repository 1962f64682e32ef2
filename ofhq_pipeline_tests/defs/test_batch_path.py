"""The batch path end to end: the simulator over HTTP → Dagster runs → the analysts' file."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import dagster as dg
import duckdb
import polars as pl
import pytest

from ofhq_pipeline.resources.sync_settings import SyncSettings
from ofhq_pipeline.settings import Paths
from ofhq_pipeline.sync import sync
from ofhq_pipeline_tests.conftest import API_KEY, point_at

# Whole syncs of the simulated agency: the second CI step, `make test-slow` (docs/testing.md).
pytestmark = pytest.mark.slow

MART_TABLES = ["fan_profile", "transactions", "creator_revenue_daily", "creators"]


@pytest.fixture(scope="module")
def agency():
    """Three creators of the demo's size each: a sync's cost is mostly per creator, and three
    show every property (several creators, one failing, concurrent publishing) as well as nine."""
    from ofhq_pipeline.source.simulator import generate_agency

    return generate_agency(seed=7, scale=1 / 3, n_creators=3)


def expected_spend_cents(agency) -> dict[str, int]:
    """Purchases per creator computed from the generator's own frames, independently of SQL."""
    end = agency.end
    purchases = agency.transactions.filter(
        pl.col("status").is_in(["done", "succeeded", "completed"])
        & (pl.col("amount") > 0)
        & (pl.col("created_at") <= end)
        & (pl.col("chargeback_at").is_null() | (pl.col("chargeback_at") > end))
    )
    totals = purchases.group_by("creator_id").agg((pl.col("amount") * 100).round().sum())
    return {row[0]: int(row[1]) for row in totals.iter_rows()}


def read_marts(path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for table in MART_TABLES:
            rel = con.sql(f"SELECT * FROM marts.{table}")
            if "as_of" in rel.columns:  # transactions has none: its rows do not depend on it
                rel = rel.select("* EXCLUDE (as_of)")
            if table == "creators":
                rel = rel.select("* EXCLUDE (last_synced_at)")
            if table == "fan_profile":
                # A stage change seen by a later evaluation is dated at that evaluation; a single
                # full sync dates it from history (fan-profile.md): by design, not equal.
                rel = rel.select("* EXCLUDE (stage_updated_at)")
            out[table] = sorted(rel.fetchall(), key=repr)
        return out
    finally:
        con.close()


def test_full_materialization_against_the_simulator(monkeypatch, tmp_path, agency, simulator, instance):
    defs = point_at(monkeypatch, simulator.url, tmp_path / "home", as_of=agency.end.isoformat())
    runs = sync(defs, instance)
    assert [r.error for r in runs if not r.success] == []
    assert len(runs) == agency.accounts.filter(pl.col("is_authenticated")).height

    paths = Paths.from_env()
    con = duckdb.connect(str(paths.analysts_marts), read_only=True)
    spend = dict(con.execute(
        "SELECT creator_id, sum(lifetime_spend_cents) FROM marts.fan_profile GROUP BY 1").fetchall())
    assert spend == expected_spend_cents(agency)
    fans = con.execute("SELECT count(*), count(DISTINCT (creator_id, fan_id)) FROM marts.fan_profile").fetchone()
    assert fans[0] == fans[1] == agency.fans.height
    daily = con.execute("SELECT sum(gross_cents) FROM marts.creator_revenue_daily").fetchone()[0]
    assert daily == sum(spend.values())
    stats = dict(con.execute(
        "SELECT table_name, row_count FROM marts.system_stats WHERE layer = 'marts'").fetchall())
    for table in MART_TABLES:
        assert stats[table] == con.execute(f"SELECT count(*) FROM marts.{table}").fetchone()[0]
    # Money is integer cents everywhere, never a float or a 128-bit sum.
    cents_types = con.execute("SELECT DISTINCT data_type FROM information_schema.columns "
                              "WHERE column_name LIKE '%\\_cents' ESCAPE '\\'").fetchall()
    assert cents_types == [("BIGINT",)]
    raw_fans = con.execute(
        "SELECT row_count FROM marts.system_stats WHERE layer = 'raw' AND table_name = 'fans'").fetchone()[0]
    assert raw_fans == agency.fans.height
    con.close()
    # Fans' chats and the agency's revenue: every file and folder the runs created is owner-only.
    created = [paths.home / "lake", *(paths.home / "lake").rglob("*"), paths.analysts_marts]
    shared = sorted(str(p) for p in created if p.stat().st_mode & 0o077)
    assert len(created) > 50 and shared == []

    # Every blocking pandera check ran, and every check passed, for every creator (in the sync
    # run for staging, in the marts run that follows it for the rest).
    for run in runs:
        assert run.marts_run_id is not None  # a first sync staged everything
        checks = [e for run_id in run.run_ids for e in instance.all_logs(run_id)
                  if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"]
        staging = [e for e in checks
                   if e.dagster_event.event_specific_data.asset_key.path[0] == "staging"]
        assert len(staging) == 8  # seven schemas, and the rejects warning
        # No shift schedule here: the shifts check says it could not judge (a warning, never
        # green); every other check passes.
        failed = {e.dagster_event.event_specific_data.check_name for e in checks
                  if not e.dagster_event.event_specific_data.passed}
        assert failed == {"creator_messages_in_shifts"}

    # The data engineers' warehouse sees every layer.
    wh = duckdb.connect(str(paths.warehouse), read_only=True)
    assert wh.execute("SELECT count(*) FROM staging.transactions").fetchone()[0] >= \
        wh.execute("SELECT count(*) FROM marts.transactions").fetchone()[0] > 0
    wh.close()


def test_incremental_syncs_equal_one_full_sync(monkeypatch, tmp_path, agency):
    from ofhq_pipeline.source.simulator import SimulatorServer

    chosen = sorted(agency.accounts["id"].to_list())[:2]
    end = agency.end
    with SimulatorServer(agency, api_key=API_KEY) as sim, \
            dg.instance_for_test() as inc_instance, dg.instance_for_test() as full_instance:
        sim.set_clock(end - timedelta(days=3))
        defs = point_at(monkeypatch, sim.url, tmp_path / "incremental", as_of=end.isoformat())
        # The days pass on the API's clock, not ours: read the fan list whole on every sync, as
        # the once-a-day whole read does when a day has passed.
        defs = dg.Definitions(assets=list(defs.assets), jobs=list(defs.jobs), resources={
            **defs.resources,
            "sync": SyncSettings(as_of=end.isoformat(), fans_whole_read_every_hours=0)})
        first = sync(defs, inc_instance, creators=chosen)
        assert all(r.success for r in first)
        later = []
        for days_before in (2, 1, 0):
            sim.set_clock(end - timedelta(days=days_before))
            later += sync(defs, inc_instance, creators=chosen)
        assert all(r.success for r in later)
        modes = {r.metadata["raw/transactions"]["sync_mode"] for r in later}
        assert modes == {"incremental"}
        incremental = read_marts(Paths.from_env().analysts_marts)

        full_defs = point_at(monkeypatch, sim.url, tmp_path / "full", as_of=end.isoformat())
        full_runs = sync(full_defs, full_instance, creators=chosen, full=True)
        assert all(r.success for r in full_runs)
        full = read_marts(Paths.from_env().analysts_marts)

    assert incremental == full
    assert len(full["fan_profile"]) > 0
    # The incremental passes fetched only what was new: far fewer message requests.
    inc_requests = sum(r.metadata["raw/messages"]["requests"] for r in later[-2:])
    full_requests = sum(r.metadata["raw/messages"]["requests"] for r in full_runs)
    assert inc_requests < full_requests / 2


READER = r"""
import json, sys, time, duckdb
path, running_file, stop_file = sys.argv[1], sys.argv[2], sys.argv[3]
reads, reads_during_run, errors, inconsistent, fan_counts = 0, 0, [], 0, set()
import os

while not os.path.exists(stop_file) or reads == 0:
    try:
        began_in_run = os.path.exists(running_file)
        con = duckdb.connect(path, read_only=True)
        fans, total = con.execute(
            "SELECT (SELECT count(*) FROM marts.fan_profile), (SELECT sum(fan_count) FROM marts.creators)"
        ).fetchone()
        con.close()
        reads += 1
        if began_in_run and os.path.exists(running_file):  # the whole read within the runs
            reads_during_run += 1
            fan_counts.add(fans)
        inconsistent += fans != total
    except Exception as exc:
        errors.append(repr(exc))
    time.sleep(0.01)
print(json.dumps({"reads": reads, "reads_during_run": reads_during_run, "errors": errors[:5],
                  "inconsistent": inconsistent, "fan_counts": sorted(fan_counts)}))
"""


def test_analysts_file_is_readable_while_a_sync_runs(monkeypatch, tmp_path, agency, simulator, instance):
    defs = point_at(monkeypatch, simulator.url, tmp_path / "home", as_of=agency.end.isoformat())
    assert all(r.success for r in sync(defs, instance, creators=sorted(agency.accounts["id"])[:1]))
    path = Paths.from_env().analysts_marts

    holder = duckdb.connect(str(path), read_only=True)  # an analyst keeps the file open throughout
    before = holder.execute("SELECT count(*) FROM marts.fan_profile").fetchone()[0]
    running, stop = tmp_path / "running", tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path), str(running), str(stop)],
                              stdout=subprocess.PIPE, text=True)
    running.touch()
    try:
        runs = sync(defs, instance, full=True)
    finally:
        running.unlink()
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    assert all(r.success for r in runs)
    result = json.loads(out)
    # Reads began and ended while the runs were in progress, not only after them: the reader saw
    # the file before and after at least one of the runs swapped it (creators joined it).
    assert result["errors"] == [] and result["reads_during_run"] > 0
    assert len(result["fan_counts"]) >= 2
    assert result["inconsistent"] == 0  # never half a run: profile rows always match creators
    # The open connection still sees its own snapshot; a new one sees the new marts.
    assert holder.execute("SELECT count(*) FROM marts.fan_profile").fetchone()[0] == before
    holder.close()
    fresh = duckdb.connect(str(path), read_only=True)
    assert fresh.execute("SELECT count(*) FROM marts.fan_profile").fetchone()[0] == agency.fans.height
    fresh.close()


@pytest.fixture
def broken_creator_api(agency):
    """The simulator, except one creator's transactions lose their `amount` field."""
    import httpx
    import uvicorn  # noqa: F401
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from ofhq_pipeline.source.simulator import SimulatorServer

    broken = sorted(agency.accounts["id"].to_list())[0]
    with SimulatorServer(agency, api_key=API_KEY) as upstream:
        async def proxy(request: Request) -> Response:
            if not hasattr(request.app.state, "client"):  # one pool, on the server's own loop
                request.app.state.client = httpx.AsyncClient()
            answer = await request.app.state.client.get(
                upstream.url + request.url.path, params=request.query_params,
                headers={"Authorization": request.headers.get("authorization", "")})
            body = answer.json()
            if request.url.path == f"/api/{broken}/transactions":
                for item in body["data"]["list"]:
                    item.pop("amount", None)
            return JSONResponse(body, status_code=answer.status_code)

        from ofhq_pipeline_tests.servers import serve_app

        app = Starlette(routes=[Route("/{path:path}", proxy)])
        with serve_app(app) as url:
            yield url, broken


def test_a_failing_creator_does_not_stop_the_others(monkeypatch, tmp_path, agency, instance, broken_creator_api):
    url, broken = broken_creator_api
    defs = point_at(monkeypatch, url, tmp_path / "home", as_of=agency.end.isoformat())
    runs = {r.creator_id: r for r in sync(defs, instance)}
    assert not runs[broken].success
    assert "amount" in runs[broken].error and broken in runs[broken].error
    assert "transactions" in runs[broken].error
    assert all(r.success for c, r in runs.items() if c != broken)
    con = duckdb.connect(str(Paths.from_env().analysts_marts), read_only=True)
    published = {c for (c,) in con.execute("SELECT DISTINCT creator_id FROM marts.fan_profile").fetchall()}
    con.close()
    assert published == set(runs) - {broken}  # nothing half-done of the failed creator
