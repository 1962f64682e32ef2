"""What a user with launch rights could try through a run's config, as the launchpad submits it.

Endpoints, secrets and paths are the deployment's: a run config that names one fails before any
asset body runs, so a listener it points at hears nothing. A partition key that is not a plain
account id is refused before any file is touched. Both hold for each run of a sync
(`creator_sync`, then `creator_marts`), and the marts run the sensor requests after a sync takes
neither the sync's run config nor any tag of it but the few it carries on purpose.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import pytest

from ofhq_pipeline.definitions import build_definitions, resources
from ofhq_pipeline.defs.source.jobs import SYNC_RUN_TAG
from ofhq_pipeline.resources.sync_settings import AS_OF_TAG
from ofhq_pipeline.sync import step_failure
from ofhq_pipeline_tests.conftest import point_at
from ofhq_pipeline_tests.sync_runs import STAGED, finish_sync, marts_sensor_tick, start_sync

STOLEN = "postgresql://dagster:hunter2-not-for-you@db.internal/dagster"


@contextmanager
def listener() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback TCP server that records every connection's first bytes (what a thief reads)."""
    heard: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    heard.append(conn.recv(65536))
                except OSError:
                    heard.append(b"")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", heard
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def all_event_text(result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(repr(event) for event in result.all_events)


def test_a_run_config_cannot_send_the_api_key_to_another_host(
    monkeypatch, tmp_path, simulator, instance
):
    monkeypatch.setenv("DAGSTER_PG_URL", STOLEN)
    defs = point_at(monkeypatch, simulator.url, tmp_path / "home")
    creator = "acct_attack"
    instance.add_dynamic_partitions("creators", [creator])
    with listener() as (url, heard):
        attack = {"resources": {"ofapi": {"config": {
            "base_url": url, "api_key": {"env": "DAGSTER_PG_URL"},
        }}}}
        result = defs.resolve_job_def("creator_sync").execute_in_process(
            run_config=attack, instance=instance, partition_key=creator, raise_on_error=False
        )
    assert not result.success
    assert heard == []
    error = step_failure(result)
    assert "ofapi.api_key is locked (set by OFAPI_API_KEY " in error
    assert "ofapi.base_url is locked (set by OFAPI_BASE_URL " in error
    assert "hunter2" not in all_event_text(result)
    assert result.get_asset_materialization_events() == []


def test_a_run_config_cannot_send_the_marts_or_the_alerts_elsewhere(
    monkeypatch, tmp_path, instance
):
    """The marts run holds the lake, the Postgres marts, Telegram and the classifier's endpoint:
    a run config naming them fails before a mart is built, sends nothing, writes nothing."""
    monkeypatch.setenv("DAGSTER_PG_URL", STOLEN)
    defs = point_at(monkeypatch, "http://127.0.0.1:9", tmp_path / "home")
    creator = "acct_attack"
    instance.add_dynamic_partitions("creators", [creator])
    elsewhere = tmp_path / "elsewhere"
    with listener() as (url, heard):
        attack = {"resources": {
            "lake": {"config": {"home": str(elsewhere),
                                "analysts_marts_path": str(elsewhere / "marts.duckdb")}},
            "marts_postgres": {"config": {"url": {"env": "DAGSTER_PG_URL"}}},
            "telegram": {"config": {"api_base_url": url, "bot_token": {"env": "DAGSTER_PG_URL"}}},
            "classifier": {"config": {"base_url": url, "api_key": {"env": "DAGSTER_PG_URL"}}},
        }}
        result = defs.resolve_job_def("creator_marts").execute_in_process(
            run_config=attack, instance=instance, partition_key=creator, raise_on_error=False
        )
    assert not result.success
    assert heard == []
    assert " is locked (set by " in step_failure(result)
    assert "hunter2" not in all_event_text(result)
    assert result.get_asset_materialization_events() == []
    assert not elsewhere.exists()


def test_the_marts_run_after_a_sync_takes_none_of_its_run_config_and_few_of_its_tags(instance):
    """A sync launched with its own run config and tags (what the launchpad allows it: a
    timeout, a tag) is followed by a marts run with the deployment's config and only the tags
    carried on purpose: a tag that would change what the marts do stays on the sync."""
    defs = build_definitions()
    instance.add_dynamic_partitions("creators", ["acct_a"])
    cursor = marts_sensor_tick(instance, None, defs).cursor
    tuned = {"resources": {"ofapi": {"config": {"read_timeout_s": 3.0}}}}
    tags = {AS_OF_TAG: "2026-11-01T00:00:00+00:00", SYNC_RUN_TAG: "../../forged",
            "ofhq/trigger": "webhook", "ofhq/rebuild_marts": "true", "dagster/priority": "9"}
    run_id = start_sync(instance, defs.resolve_job_def("creator_sync"), "acct_a", 1_000.0,
                        tags=tags, run_config=tuned)
    finish_sync(instance, run_id, 1_030.0, staged=STAGED)

    [request] = marts_sensor_tick(instance, cursor, defs).run_requests
    assert not request.run_config
    assert {k: v for k, v in request.tags.items() if not k.startswith("dagster/")} == {
        SYNC_RUN_TAG: run_id, AS_OF_TAG: "2026-11-01T00:00:00+00:00"}
    assert request.tags["dagster/partition"] == "acct_a"
    assert "dagster/priority" not in request.tags


LOCKED = {  # resource key → its locked fields, as the code location declares them
    "ofapi": {"base_url", "api_key", "requests_per_minute"},
    "lake": {"home", "warehouse_path", "analysts_marts_path"},
    "landing": {"url"},
    "telegram": {"bot_token", "chat_id", "api_base_url"},
    "classifier": {"api_key", "base_url"},
    "vault_tagger": {"api_key", "base_url"},
    "chatters": {"shifts_file"},
    "marts_postgres": {"url", "role_prefix"},
}


def test_every_endpoint_secret_and_path_field_is_locked():
    """A field added later under such a name is locked too, or this test names it."""
    risky = ("url", "key", "token", "secret", "path", "home", "file", "chat_id", "prefix")
    for key, resource in resources().items():
        fields = set(type(resource).model_fields)
        locked = set(getattr(resource, "locked_fields", {}))
        assert locked == LOCKED.get(key, set()), key
        unlocked_risky = {
            f for f in fields - locked if any(f == w or f.endswith(f"_{w}") for w in risky)
        }
        assert unlocked_risky == set(), f"{key}: {unlocked_risky} can be set by a run config"


@pytest.mark.parametrize(
    ("key", "field"), [(key, field) for key, fields in LOCKED.items() for field in sorted(fields)]
)
def test_a_run_config_naming_a_locked_field_fails_before_the_asset_runs(
    monkeypatch, tmp_path, key, field
):
    ran: list[str] = []

    @dg.asset(required_resource_keys={key})
    def probe(context) -> None:
        ran.append(key)

    # A text field is pointed at another variable; the request budget raised a thousandfold.
    value = 1_000_000 if field == "requests_per_minute" else {"env": "PATH"}
    attack = {"resources": {key: {"config": {field: value}}}}
    result = dg.materialize(
        [probe], resources=resources(), run_config=attack, raise_on_error=False
    )
    assert not result.success
    assert ran == []
    assert f"{key}.{field} is locked" in step_failure(result)


def test_a_run_may_tune_a_timeout_and_keeps_the_deployments_endpoint_and_key(monkeypatch):
    """Dagster gives every field a run config does not name its class default; the locked ones
    must still be the deployment's, or tuning a timeout would drop the key."""
    monkeypatch.setenv("OFAPI_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("OFAPI_API_KEY", "deployment-key-0123456789")
    seen: dict[str, object] = {}

    @dg.asset(required_resource_keys={"ofapi"})
    def probe(context) -> None:
        client = context.resources.ofapi.client()
        seen.update(timeout=client.http.timeout.read, url=str(client.http.base_url),
                    auth=client.http.headers.get("authorization"))

    result = dg.materialize(
        [probe],
        resources=resources(),
        run_config={"resources": {"ofapi": {"config": {"read_timeout_s": 3.0}}}},
    )
    assert result.success
    assert seen == {"timeout": 3.0, "url": "http://127.0.0.1:9",
                    "auth": "Bearer deployment-key-0123456789"}


@pytest.mark.parametrize("job", ["creator_sync", "creator_marts"])
@pytest.mark.parametrize("key", ["../../../../outside", "acct_1/../../x", "a|b", "acct 1", "..", "x" * 65])
def test_a_partition_key_that_is_not_an_account_id_touches_no_file(
    monkeypatch, tmp_path, simulator, instance, key, job
):
    home = tmp_path / "deep" / "a" / "b" / "home"
    defs = point_at(monkeypatch, simulator.url, home)
    instance.add_dynamic_partitions("creators", [key])
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=key, raise_on_error=False
    )
    assert not result.success
    assert "is not a plain account id" in step_failure(result)
    assert result.get_asset_materialization_events() == []
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "dagster" not in p.parts]
    assert written == []


@pytest.mark.parametrize("key", ["..", "../outside", "acct/x", "acct\x00", "acct_\u00e9"])
def test_the_lake_resolves_no_path_from_a_key_that_is_not_an_account_id(tmp_path, key):
    from ofhq_pipeline.lake import Lake
    from ofhq_pipeline.settings import Paths
    from ofhq_pipeline.source.contract import InvalidAccountId

    lake = Lake(Paths(home=tmp_path, warehouse=tmp_path / "w.duckdb",
                      analysts_marts=tmp_path / "m.duckdb"))
    for locate in (lambda: lake.raw_dir("fans", key), lambda: lake.staging_path("fans", key),
                   lambda: lake.creator_marts_dir(key), lambda: lake.mart_path("t", key, "run")):
        with pytest.raises(InvalidAccountId, match="not a plain account id"):
            locate()
