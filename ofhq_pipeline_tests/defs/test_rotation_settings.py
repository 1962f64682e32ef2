"""The rotation's settings, the API request budget as every client takes it, and the money marts'
freshness policies: what a careless operator or a run config could try, and what is refused."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from ofhq_pipeline import registry
from ofhq_pipeline.definitions import build_definitions, resources
from ofhq_pipeline.defs.freshness import freshness_policy
from ofhq_pipeline.defs.source.schedules import periodic_sync_schedule
from ofhq_pipeline.resources.api import OfapiResource
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.rotation import RotationSettings
from ofhq_pipeline.settings import Paths
from ofhq_pipeline.source.budget import ApiBudget, BudgetExhausted, budget_path
from ofhq_pipeline.sync import step_failure
from ofhq_pipeline_tests.servers import serve_app

NOW = 1_800_000_000.0
MONEY_MARTS = {"marts/transactions", "marts/creator_revenue_daily", "marts/creator_revenue_live",
               "marts/fan_profile", "marts/creators"}


class FrozenClockOfapi(OfapiResource):
    """The API resource with its budget's clock stopped: the window never moves on its own."""

    def budget(self) -> ApiBudget:
        return dataclasses.replace(super().budget(), clock=lambda: NOW)


def the_budget_file() -> Path:
    return budget_path(Paths.from_env().lake)


def taken_in_file() -> list[float]:
    return json.loads(the_budget_file().read_text())["taken"]


def flaky_accounts(failures: int) -> Starlette:
    """GET /api/accounts answers 503 `failures` times, then the accounts."""
    left = {"failures": failures}

    async def accounts(request):
        if left["failures"]:
            left["failures"] -= 1
            return JSONResponse({"error": "busy"}, status_code=503)
        return JSONResponse({"data": [{"id": "acct_a", "username": "a"}]})

    return Starlette(routes=[Route("/api/accounts", accounts)])


# ---- freshness --------------------------------------------------------------------------------
def test_the_money_marts_carry_a_freshness_policy_of_the_staleness_target():
    graph = build_definitions().resolve_asset_graph()
    policies = {node.key.to_user_string(): node.freshness_policy for node in graph.asset_nodes
                if node.freshness_policy is not None}
    assert set(policies) == MONEY_MARTS
    for policy in policies.values():
        assert policy.fail_window.to_timedelta() == timedelta(minutes=45)
        assert policy.warn_window.to_timedelta() == timedelta(minutes=45 * 0.75)


def test_the_freshness_window_follows_the_target_setting(monkeypatch):
    monkeypatch.setenv("OFHQ_STALENESS_TARGET_MINUTES", "30")
    policy = freshness_policy(registry.model("marts/fan_profile"))
    assert policy.fail_window.to_timedelta() == timedelta(minutes=30)
    assert freshness_policy(registry.model("staging/transactions")) is None
    assert freshness_policy(registry.model("marts/fan_personality")) is None  # not money


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_a_malformed_target_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("OFHQ_STALENESS_TARGET_MINUTES", value)
    with pytest.raises(ValueError, match=f"OFHQ_STALENESS_TARGET_MINUTES must be a whole number "
                                         f"of minutes ≥ 1, not '{value}'"):
        freshness_policy(registry.model("marts/transactions"))


# ---- settings out of range --------------------------------------------------------------------
@pytest.mark.parametrize(("field", "value", "message"), [
    ("staleness_target_minutes", -5, "staleness_target_minutes must be a whole number of "
                                     "minutes ≥ 1, not -5"),
    ("max_concurrent_syncs", 0, "max_concurrent_syncs must be a whole number of syncs ≥ 1, not 0"),
    ("requests_per_sync", -1, "requests_per_sync must be a whole number of requests ≥ 1, not -1"),
])
def test_negative_rotation_settings_are_refused_with_a_clear_error(field, value, message):
    with pytest.raises(ValueError, match=message):
        RotationSettings(**{field: value})


def test_a_negative_request_budget_is_refused_in_code_and_in_the_environment(monkeypatch):
    with pytest.raises(ValueError, match=r"requests_per_minute must be 0 \(no limit\)"):
        OfapiResource(requests_per_minute=-1)
    monkeypatch.setenv("OFAPI_REQUESTS_PER_MINUTE", "-5")
    with pytest.raises(ValueError, match=r"OFAPI_REQUESTS_PER_MINUTE must be 0 \(no limit\) or "
                                         r"a whole number of requests per minute, not '-5'"):
        OfapiResource().client()


def test_a_negative_setting_in_the_environment_stops_the_tick_naming_it(monkeypatch, instance):
    monkeypatch.setenv("OFHQ_MAX_CONCURRENT_SYNCS", "-1")
    with dg.build_schedule_context(
        instance=instance,
        resources={"ofapi": OfapiResource(), "lake": LakeResource(),
                   "rotation": RotationSettings.from_env()},
    ) as context, pytest.raises(dg.DagsterError) as failure:
        periodic_sync_schedule.evaluate_tick(context)
    causes, error = [], failure.value
    while error is not None:
        causes.append(str(error))
        error = error.__cause__
    assert any("max_concurrent_syncs must be a whole number of syncs ≥ 1, not -1" in c
               for c in causes), causes


def test_a_run_config_with_a_negative_setting_fails_before_the_asset_runs():
    ran: list[str] = []

    @dg.asset(required_resource_keys={"rotation"})
    def probe(context) -> None:
        ran.append("rotation")

    result = dg.materialize(
        [probe], resources=resources(), raise_on_error=False,
        run_config={"resources": {"rotation": {"config": {"staleness_target_minutes": -5}}}},
    )
    assert not result.success and ran == []
    assert "staleness_target_minutes must be a whole number of minutes ≥ 1, not -5" in \
        step_failure(result)


# ---- what a run config may not do -------------------------------------------------------------
@pytest.mark.parametrize(("key", "field"), [("ofapi", "requests_per_minute"),
                                            ("ofapi", "base_url"), ("lake", "home")])
def test_a_run_config_cannot_raise_the_budget_or_move_what_it_guards(key, field):
    """A run allowed more requests than the others would spend their share; a run pointed at
    another API or another lake would take its tokens from another file."""
    ran: list[str] = []

    @dg.asset(required_resource_keys={key})
    def probe(context) -> None:
        ran.append(key)

    value = 100_000 if field == "requests_per_minute" else "/tmp/elsewhere"
    result = dg.materialize([probe], resources=resources(), raise_on_error=False,
                            run_config={"resources": {key: {"config": {field: value}}}})
    assert not result.success and ran == []
    assert f"{key}.{field} is locked" in step_failure(result)


def test_a_run_config_cannot_name_a_budget_file():
    """The file's place follows the lake (OFHQ_HOME); no field of any resource sets it."""

    @dg.asset(required_resource_keys={"ofapi"})
    def probe(context) -> None:
        raise AssertionError("never runs")

    with pytest.raises(dg.DagsterInvalidConfigError, match="budget_path"):
        dg.materialize([probe], resources=resources(),
                       run_config={"resources": {"ofapi": {"config": {"budget_path": "/tmp/b"}}}})


# ---- every client takes from the budget (a loopback API) ---------------------------------------
@pytest.mark.slow
def test_every_request_takes_a_token_retries_included(monkeypatch):
    monkeypatch.setenv("OFAPI_REQUESTS_PER_MINUTE", "10")
    with serve_app(flaky_accounts(failures=2)) as url, \
            FrozenClockOfapi(base_url=url).client(backoff_base_s=0.0) as client:
        assert [a["id"] for a in client.accounts()] == ["acct_a"]
        assert client.requests_made == 3
    assert taken_in_file() == [NOW] * 3
    assert FrozenClockOfapi(base_url=url).budget().remaining() == 7


@pytest.mark.slow
def test_two_clients_share_one_budget_and_a_probe_never_waits(monkeypatch):
    monkeypatch.setenv("OFAPI_REQUESTS_PER_MINUTE", "3")
    with serve_app(flaky_accounts(failures=0)) as url:
        with FrozenClockOfapi(base_url=url).client() as first:
            first.accounts()
            first.accounts()
        with FrozenClockOfapi(base_url=url).client(wait_for_budget=False) as second:
            second.accounts()
            with pytest.raises(BudgetExhausted, match="used up for the next 60.0 s"):
                second.accounts()
    assert taken_in_file() == [NOW] * 3


@pytest.mark.slow
def test_a_damaged_budget_file_is_replaced_and_the_request_goes_on(monkeypatch, caplog):
    monkeypatch.setenv("OFAPI_REQUESTS_PER_MINUTE", "10")
    path = the_budget_file()
    path.parent.mkdir(parents=True)
    path.write_text('{"format": 1, "taken": [')  # a write cut short
    os.utime(path, (NOW - 300, NOW - 300))
    with caplog.at_level(logging.WARNING), serve_app(flaky_accounts(failures=0)) as url, \
            FrozenClockOfapi(base_url=url).client() as client:
        assert [a["id"] for a in client.accounts()] == ["acct_a"]
    assert any("api_budget.json was unreadable" in r.getMessage() for r in caplog.records)
    assert taken_in_file() == [NOW]


def test_no_limit_adds_no_hook_and_no_file(monkeypatch):
    monkeypatch.setenv("OFAPI_REQUESTS_PER_MINUTE", "0")
    with OfapiResource(base_url="http://127.0.0.1:9").client() as client:
        assert client.http.event_hooks["request"] == []
    assert not the_budget_file().exists()
