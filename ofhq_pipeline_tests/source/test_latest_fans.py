"""Latest fans (`GET /api/{account_id}/fans/latest`): the simulator serves the fans who first
subscribed within a range, the client reads it, and `raw/fans` reads the whole list only once
every `fans_whole_read_every_hours`, the new fans in between, over real HTTP on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import httpx
import polars as pl
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ofhq_pipeline.defs.source.assets import raw_feeds
from ofhq_pipeline.defs.staging.assets import staging_assets
from ofhq_pipeline.resources.api import OfapiResource
from ofhq_pipeline.resources.sync_settings import FULL_HISTORY_TAG, SyncSettings
from ofhq_pipeline.source.client import ContractError, OfapiClient
from ofhq_pipeline.source.simulator import SimulatorServer
from ofhq_pipeline.sync import materialization_metadata, quiet_logging, step_failure
from ofhq_pipeline_tests.builders import fan, make_lake, staged_dicts
from ofhq_pipeline_tests.conftest import API_KEY
from ofhq_pipeline_tests.location import lake_at
from ofhq_pipeline_tests.promises.conftest import busiest_creators
from ofhq_pipeline_tests.servers import serve_app
from ofhq_pipeline_tests.source.test_client import KEY, Api, client, page
from ofhq_pipeline_tests.source.test_simulator import Api as SimApi

FIRST = pl.col("subscribes").list.first().struct.field("date")


def busiest_creator(agency) -> str:
    return busiest_creators(agency, 1)[0]


def subscribed_within(agency, creator_id: str, start: datetime, end: datetime) -> list[int]:
    """Ids of the creator's fans whose first subscription lies in [start, end], from the
    generator's own frame."""
    fans = agency.fans.filter((pl.col("creator_id") == creator_id) & FIRST.is_between(start, end))
    return sorted(fans["id"])


def latest_url(server: SimulatorServer, creator_id: str) -> str:
    return f"{server.url}/api/{creator_id}/fans/latest"


# ---------------------------------------------------------------------------------------------
# The simulator


def test_latest_fans_are_only_those_who_subscribed_within_the_range(agency):
    creator = busiest_creator(agency)
    clock = agency.end - timedelta(days=40)
    start, end = clock - timedelta(days=300), clock - timedelta(days=10)
    with SimulatorServer(agency, api_key=API_KEY, clock=clock) as server:
        api = SimApi(server.url, key=API_KEY)
        # 7 a page: the simulator shortens some pages (by offset), and hasMore must carry on.
        served = api.offset_pages(f"/api/{creator}/fans/latest", limit=7,
                                  start_date=start.isoformat(), end_date=end.isoformat())
        everyone = {fan["id"]: fan for fan in api.fans(creator)}
        # A range reaching past the clock holds no fan from the future.
        recent = api.offset_pages(f"/api/{creator}/fans/latest", limit=20,
                                  start_date=(clock - timedelta(days=5)).isoformat(),
                                  end_date=(clock + timedelta(days=30)).isoformat())
        requests = server.stats()["requests"]["latest_fans"]
    expected = subscribed_within(agency, creator, start, end)
    assert sorted(fan["id"] for fan in served) == expected
    assert 20 < len(expected) < len(everyone)  # several pages, and a real filter
    assert api.short_pages > 0 and requests > len(expected) / 7
    # Each item is the fans/all item of that fan, field for field.
    assert all(fan == everyone[fan["id"]] for fan in served)
    assert sorted(f["id"] for f in recent) == subscribed_within(
        agency, creator, clock - timedelta(days=5), clock)


def test_latest_fans_pages_by_next_page_urls_that_keep_the_range(agency):
    creator = busiest_creator(agency)
    start, end = agency.end - timedelta(days=200), agency.end
    with SimulatorServer(agency, api_key=API_KEY) as server:
        http = httpx.Client(headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
        url: str | None = latest_url(server, creator)
        params: dict | None = {"start_date": start.isoformat(), "end_date": end.isoformat(),
                               "limit": 20}
        ids, pages = [], 0
        while url:
            body = http.get(url, params=params).json()
            ids += [fan["id"] for fan in body["data"]["list"]]
            url, params, pages = body["_pagination"]["next_page"], None, pages + 1
            assert (url is None) == (not body["data"]["hasMore"])
            if url:
                query = parse_qs(urlsplit(url).query)
                assert query["start_date"] == [start.isoformat()]
                assert query["end_date"] == [end.isoformat()]
        http.close()
    assert pages > 1
    assert sorted(ids) == subscribed_within(agency, creator, start, end)
    assert len(ids) == len(set(ids))


# What the simulator refuses, and the parameter its message must name.
BAD_RANGES = [
    ({"start_date": "yesterday", "end_date": "2026-11-01T00:00:00Z"}, "start_date"),
    ({"start_date": "2026-10-01T00:00:00Z", "end_date": "'; DROP TABLE fans; --"}, "end_date"),
    ({"start_date": "99999999999999999999", "end_date": "2026-11-01T00:00:00Z"}, "start_date"),
    ({"start_date": "0001-01-01T00:00:00+05:00", "end_date": "2026-11-01T00:00:00Z"},
     "start_date"),
    ({"end_date": "2026-11-01T00:00:00Z"}, "start_date"),
    ({"start_date": "2026-10-01T00:00:00Z"}, "end_date"),
    ({"start_date": "2026-11-01T00:00:00Z", "end_date": "2026-10-01T00:00:00Z"}, "end_date"),
    ({"start_date": "2026-10-01T00:00:00Z", "end_date": "2026-11-01T00:00:00Z", "limit": 21},
     "limit"),
    ({"start_date": "2026-10-01T00:00:00Z", "end_date": "2026-11-01T00:00:00Z", "offset": -1},
     "offset"),
]


@pytest.mark.parametrize(("params", "named"), BAD_RANGES)
def test_a_malformed_or_reversed_range_is_a_400_naming_the_parameter(simulator, agency, params,
                                                                     named):
    answer = httpx.get(latest_url(simulator, busiest_creator(agency)), params=params,
                       headers={"Authorization": f"Bearer {API_KEY}"})
    assert answer.status_code == 400
    assert named in answer.json()["error"]


def test_latest_fans_pass_the_same_gate_as_every_endpoint(agency):
    creator = busiest_creator(agency)
    params = {"start_date": "2026-10-01T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"}
    with SimulatorServer(agency, api_key=API_KEY, throttle_every=2, retry_after=3) as server:
        keyless = httpx.get(latest_url(server, creator), params=params)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        first, second = (httpx.get(latest_url(server, creator), params=params, headers=headers)
                         for _ in range(2))
        unknown = httpx.get(f"{server.url}/api/acct_nobody/fans/latest", params=params,
                            headers=headers)
    assert keyless.status_code == 401
    assert first.status_code == 200 and "_rate_limits" in first.json()["_meta"]
    assert second.status_code == 429 and second.json()["retry_after"] == 3
    assert unknown.status_code == 404


# ---------------------------------------------------------------------------------------------
# The client


def test_the_client_reads_latest_fans_with_the_range_and_fans_all_paging(simulator, agency):
    creator = busiest_creator(agency)
    start, end = agency.end - timedelta(days=120), agency.end - timedelta(days=30)
    with OfapiClient(simulator.url, API_KEY) as c:
        pages = list(c.latest_fans(creator, start, end))
    assert [fan["id"] for p in pages for fan in p] != []
    assert sorted(fan["id"] for p in pages for fan in p) == subscribed_within(
        agency, creator, start, end)
    assert len(pages) > 1 and max(len(p) for p in pages) <= 20
    assert c.requests_made == len(pages) and c.unknown_fields == {}


def test_the_client_sends_the_range_as_iso_instants_and_checks_each_fan():
    def latest(request: Request, n: int) -> Response:
        return page([{"id": 1}, {"username": "no id"}], False)

    api = Api({"/api/acct_1/fans/latest": latest})
    start = datetime(2026, 10, 1, 6, 30, tzinfo=UTC)
    end = datetime(2026, 10, 2, tzinfo=UTC)
    with serve_app(api.app()) as url, client(url) as c, pytest.raises(ContractError) as err:
        list(c.latest_fans("acct_1", start, end))
    assert "'id'" in str(err.value) and "fans/latest" in str(err.value)
    [params] = api.params
    assert datetime.fromisoformat(params["start_date"]) == start
    assert datetime.fromisoformat(params["end_date"]) == end
    assert params["limit"] == "20" and params["offset"] == "0"


def test_the_key_never_goes_to_the_host_a_next_page_names():
    """An API (or whoever answers for it) naming another host in `_pagination.next_page` gets
    the next page asked of our own base URL: the other host, a live server, sees nothing."""
    elsewhere = Api({"/api/acct_1/fans/latest": lambda r, n: page([{"id": 2}], False)})

    def latest(request: Request, n: int) -> Response:
        if n == 0:
            target = f"{other}/api/acct_1/fans/latest?start_date=x&end_date=y&offset=1&limit=20"
            return JSONResponse({"data": {"list": [{"id": 1}], "hasMore": True},
                                 "_pagination": {"next_page": target}})
        return page([{"id": 2}], False)

    ours = Api({"/api/acct_1/fans/latest": latest})
    with serve_app(elsewhere.app()) as other, serve_app(ours.app()) as url, client(url) as c:
        got = [f["id"] for p in c.latest_fans("acct_1", datetime(2026, 10, 1, tzinfo=UTC),
                                              datetime(2026, 10, 2, tzinfo=UTC)) for f in p]
    assert got == [1, 2]
    assert elsewhere.seen == []
    assert len(ours.seen) == 2
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in ours.seen)
    assert ours.params[1]["offset"] == "1"  # the path and query of the page it named


# ---------------------------------------------------------------------------------------------
# raw/fans


RAW_FANS = dg.AssetSelection.assets(["raw", "fans"])
STAGING = dg.AssetSelection.groups("staging")


@pytest.fixture
def fans_sync(monkeypatch, tmp_path, instance, simulator):
    """Materializes raw/fans and staging for one creator against the simulator; returns the
    raw/fans metadata of the run."""
    monkeypatch.setenv("OFAPI_BASE_URL", simulator.url)
    monkeypatch.setenv("OFAPI_API_KEY", API_KEY)
    home = tmp_path / "home"

    def run(creator_id: str, *, sync: SyncSettings | None = None, tags: dict | None = None,
            stage: bool = True) -> dict:
        instance.add_dynamic_partitions("creators", [creator_id])
        result = dg.materialize(
            [raw_feeds, *staging_assets], partition_key=creator_id,
            selection=RAW_FANS | (STAGING if stage else dg.AssetSelection.assets()),
            instance=instance, tags=tags, run_config=quiet_logging(), raise_on_error=False,
            resources={"ofapi": OfapiResource(), "lake": lake_at(home),
                       "sync": sync or SyncSettings()},
        )
        assert result.success, step_failure(result)
        return materialization_metadata(result)["raw/fans"]

    run.home = home
    return run


def staged_fan_ids(home, creator_id: str) -> set[int]:
    return {row["fan_id"] for row in staged_dicts(make_lake(home), "fans", creator_id)}


def test_raw_fans_reads_whole_then_latest_and_a_new_fan_reaches_staging(
    agency, simulator, fans_sync
):
    creator = busiest_creator(agency)
    first_clock = agency.end - timedelta(days=10)
    simulator.set_clock(first_clock)
    first = fans_sync(creator)
    assert (first["sync_mode"], first["sync_reason"]) == ("snapshot", "no_whole_read_yet")
    assert "start_date" not in first
    known = subscribed_within(agency, creator, datetime(2000, 1, 1, tzinfo=UTC), first_clock)
    assert first["dagster/row_count"] == len(known)
    assert staged_fan_ids(fans_sync.home, creator) == set(known)

    # Fans subscribe after the first sync: the API's clock moves on.
    simulator.set_clock(agency.end)
    newcomers = subscribed_within(agency, creator, first_clock + timedelta(microseconds=1),
                                  agency.end)
    assert newcomers
    second = fans_sync(creator)
    assert (second["sync_mode"], second["sync_reason"]) == ("latest", "whole_read_recent")
    newest_known = agency.fans.filter(pl.col("id").is_in(known) & (pl.col("creator_id") == creator)
                                      ).select(FIRST.max()).item()
    assert second["start_date"] == (newest_known - timedelta(hours=24)).timestamp()
    assert second["previous_whole_read_at"] is not None
    # Far cheaper than a whole read: the newcomers and the overlap's fans only.
    assert second["requests"] * 4 < first["requests"]
    assert len(newcomers) <= second["dagster/row_count"] < first["dagster/row_count"] / 4
    staged = staged_fan_ids(fans_sync.home, creator)
    assert set(newcomers) <= staged and staged == set(known) | set(newcomers)

    # Past the interval (here: 0 hours, every sync) the list is read whole again.
    third = fans_sync(creator, sync=SyncSettings(fans_whole_read_every_hours=0), stage=False)
    assert (third["sync_mode"], third["sync_reason"]) == ("snapshot", "whole_read_due")
    assert third["dagster/row_count"] == len(known) + len(newcomers)
    # A run tagged full history reads whole, however recent the last whole read.
    full = fans_sync(creator, tags={FULL_HISTORY_TAG: "true"}, stage=False)
    assert (full["sync_mode"], full["sync_reason"]) == ("snapshot", "full_history_run")
    # And the next plain sync reads latest again.
    assert fans_sync(creator, stage=False)["sync_mode"] == "latest"


IN_THREE_DAYS = datetime.now(UTC) + timedelta(days=3)
# The batch raw holds (the whole list as the API serves it, or these items), how many hours
# before now it was read and in which mode; then how the next sync reads the fan list, and why.
HELD = [
    ("whole", 23, "snapshot", "latest", "whole_read_recent"),
    ("whole", 25, "snapshot", "snapshot", "whole_read_due"),
    ("whole", 1, "latest", "snapshot", "no_whole_read_yet"),  # a latest read is no whole read
    ([{"id": 1}], 1, "snapshot", "snapshot", "no_subscription_date_held"),
    ([fan(1, subscribe_at=IN_THREE_DAYS)], 1, "snapshot", "snapshot", "api_clock_ahead"),
]


@pytest.mark.parametrize(("held", "hours_ago", "held_mode", "mode", "reason"), HELD)
def test_what_raw_holds_decides_how_the_fan_list_is_read(
    agency, simulator, fans_sync, held, hours_ago, held_mode, mode, reason
):
    creator = busiest_creator(agency)
    with OfapiClient(simulator.url, API_KEY) as c:
        whole = [f for p in c.fans(creator) for f in p]
    make_lake(fans_sync.home).write_raw_batch(
        "fans", creator, whole if held == "whole" else held,
        fetched_at=datetime.now(UTC) - timedelta(hours=hours_ago), sync_mode=held_mode)
    meta = fans_sync(creator, stage=False)
    assert (meta["sync_mode"], meta["sync_reason"]) == (mode, reason)
    assert (meta["dagster/row_count"] == len(whole)) == (mode == "snapshot")
