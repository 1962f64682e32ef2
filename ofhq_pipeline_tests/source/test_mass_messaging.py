"""Mass messaging (send, queue, one item): the simulator keeps each creator's queue and refuses
what the API refuses; the client retries a send only when the API surely took nothing, and
says `AmbiguousSend` when it may have. Over real HTTP on loopback, on a small agency."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import httpx
import numpy as np
import polars as pl
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ofhq_pipeline.source.client import AmbiguousSend, ContractError, OfapiClient, OfapiError
from ofhq_pipeline.source.simulator import SimulatorServer, generate_agency
from ofhq_pipeline.source.simulator.mass_messaging import NOT_A_FAN, RESTRICTED, restricted_fans
from ofhq_pipeline_tests.conftest import API_KEY
from ofhq_pipeline_tests.servers import free_port, serve_app
from ofhq_pipeline_tests.source.test_client import META, Api

FIRST = pl.col("subscribes").list.first().struct.field("date")
NOBODY = 1  # no fan of anyone in the generated agency


@pytest.fixture(scope="module")
def small_agency():
    return generate_agency(seed=3, n_creators=2, n_fans=120, n_transactions=200, n_messages=300)


@pytest.fixture(scope="module")
def creators(small_agency) -> tuple[str, str]:
    """The two creators, the one with more fans first."""
    counts = small_agency.fans.group_by("creator_id").len().sort("len", descending=True)
    return tuple(counts["creator_id"])


@pytest.fixture
def server(small_agency):
    """A fresh queue; no fan restricts a creator here, so who receives a send is exact."""
    with SimulatorServer(small_agency, api_key=API_KEY, mass_message_restricted_share=0) as running:
        yield running


@pytest.fixture(scope="module")
def refusing(small_agency):
    """One simulator for the tests of refused sends: none is ever accepted, so none is queued."""
    with SimulatorServer(small_agency, api_key=API_KEY) as running:
        yield running


def fans_of(agency, creator_id: str, where: pl.Expr | bool = True) -> list[int]:
    return sorted(agency.fans.filter((pl.col("creator_id") == creator_id) & where)["id"])


def vault_of(agency, creator_id: str) -> list[int]:
    return sorted(agency.vault_media.filter(pl.col("creator_id") == creator_id)["id"])


def client(url: str, sleeps: list[float] | None = None, **options) -> OfapiClient:
    record = sleeps.append if sleeps is not None else (lambda s: None)
    return OfapiClient(url, API_KEY, sleep=record, **options)


def statuses(item: dict) -> dict[int, tuple[str, str | None]]:
    return {r["userId"]: (r["status"], r["reason"]) for r in item["recipients"]}


# ---------------------------------------------------------------------------------------------
# Delivery


def test_a_send_reaches_the_creators_fans_expired_ones_too_and_fails_an_id_that_is_not_a_fan(
    server, small_agency, creators
):
    creator = creators[0]
    expired = fans_of(small_agency, creator, pl.col("expired_at") < small_agency.end)[:3]
    active = fans_of(small_agency, creator, pl.col("expired_at") >= small_agency.end)[:2]
    media = vault_of(small_agency, creator)[:2]
    with client(server.url) as c:
        queued = c.send_mass_message(creator, fan_ids=[*expired, *active, NOBODY],
                                     text="<p>New set tonight</p>", price_cents=1250,
                                     media_ids=media)
        item = c.mass_message(creator, queued["id"])
    assert queued["id"] >= 1_000_001
    assert queued["date"] == small_agency.end.isoformat()  # the clock: sent now
    assert (queued["text"], queued["price"], queued["isFree"]) == ("<p>New set tonight</p>", 12.5, False)
    assert queued["mediaFiles"] == media
    assert (queued["total"], queued["pending"], queued["isDone"]) == (6, 6, False)
    assert statuses(item) == {**{fan: ("sent", None) for fan in expired + active},
                              NOBODY: ("failed", NOT_A_FAN)}
    assert (item["isDone"], item["isReady"], item["pending"]) == (True, True, 0)
    assert (item["sentCount"], item["failedCount"], item["hasError"]) == (5, 1, True)
    assert server.sim.mass_messaging.deliveries(creator) == {
        fan: [queued["id"]] for fan in expired + active}
    assert c.unknown_fields == {}


def test_a_fan_who_subscribed_after_the_send_does_not_receive_it(server, small_agency, creators):
    creator = creators[0]
    clock = small_agency.end - timedelta(days=60)
    later = fans_of(small_agency, creator, FIRST.gt(clock))[:2]
    earlier = fans_of(small_agency, creator, FIRST.le(clock))[:2]
    assert later and earlier
    server.set_clock(clock)
    with client(server.url) as c:
        queued = c.send_mass_message(creator, fan_ids=later + earlier, text="hi", price_cents=0,
                                     media_ids=[])
        server.set_clock(small_agency.end)  # read once the late fans have subscribed
        item = c.mass_message(creator, queued["id"])
    assert statuses(item) == {**{fan: ("failed", NOT_A_FAN) for fan in later},
                              **{fan: ("sent", None) for fan in earlier}}


def test_fans_who_restricted_the_creator_fail_with_that_reason(small_agency, creators):
    creator = creators[0]
    fans = fans_of(small_agency, creator)[:4]
    with (SimulatorServer(small_agency, api_key=API_KEY, mass_message_restricted_share=1.0) as s,
          client(s.url) as c):
        queued = c.send_mass_message(creator, fan_ids=[*fans, NOBODY], text="hi", price_cents=0,
                                     media_ids=[])
        item = c.mass_message(creator, queued["id"])
    assert statuses(item) == {**{fan: ("failed", RESTRICTED) for fan in fans},
                              NOBODY: ("failed", NOT_A_FAN)}
    assert (item["sentCount"], item["failedCount"]) == (0, 5)


def test_about_one_fan_in_a_hundred_restricted_each_creator_and_always_the_same_ones():
    ids = np.arange(1, 200_001, dtype=np.int64)
    first, again, other = (restricted_fans(a, ids, 0.01) for a in ("acct_a", "acct_a", "acct_b"))
    assert 0.008 < first.mean() < 0.012
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_a_scheduled_send_stays_pending_until_the_clock_reaches_its_date(
    server, small_agency, creators
):
    creator = creators[0]
    clock = small_agency.end - timedelta(days=10)
    at = clock + timedelta(days=2)
    fans = fans_of(small_agency, creator, FIRST.le(clock))[:3]
    server.set_clock(clock)
    with client(server.url) as c:
        queued = c.send_mass_message(creator, fan_ids=fans, text="soon", price_cents=0,
                                     media_ids=[], scheduled_at=at.astimezone(timezone(timedelta(hours=-5))))
        server.set_clock(at - timedelta(seconds=1))
        waiting = c.mass_message(creator, queued["id"])
        [listed] = c.mass_message_queue(creator)
        before = server.sim.mass_messaging.deliveries(creator)
        server.set_clock(at)
        delivered = c.mass_message(creator, queued["id"])
    assert datetime.fromisoformat(queued["date"]) == at
    assert (queued["isReady"], waiting["isReady"], listed["isReady"]) == (False, False, False)
    assert set(statuses(waiting).values()) == {("pending", None)} and waiting["pending"] == 3
    assert before == {}
    assert (delivered["isReady"], delivered["isDone"], delivered["sentCount"]) == (True, True, 3)
    assert server.sim.mass_messaging.deliveries(creator) == {fan: [queued["id"]] for fan in fans}


# ---------------------------------------------------------------------------------------------
# What a send must hold


# A bad field over a good send, and what the 400 must name: the field, then a detail (formatted
# with the test's fan, vault, other creator's vault and a past instant).
BAD_SENDS = {
    "no fan ids": (lambda g: {"userIds": []}, "userIds", "empty"),
    "more fan ids than the API takes": (lambda g: {"userIds": list(range(10, 1_011))}, "userIds",
                                        "1000"),
    "a fan id twice": (lambda g: {"userIds": [g.fan, 7, g.fan]}, "userIds", "{fan}"),
    "a fan id that is not an integer": (lambda g: {"userIds": [g.fan, "7"]}, "userIds", "'7'"),
    "no userIds": (lambda g: {"userIds": None}, "userIds", "required"),
    "empty text": (lambda g: {"text": ""}, "text", "non-empty"),
    "text too long": (lambda g: {"text": "x" * 10_001}, "text", "10000"),
    "a price under 3": (lambda g: {"price": 2}, "price", "2"),
    "a price over 200": (lambda g: {"price": 250}, "price", "250"),
    "a price that is not a number": (lambda g: {"price": True}, "price", "True"),
    "a price without media": (lambda g: {"price": 5}, "mediaFiles", "price > 0"),
    "media not in the vault": (lambda g: {"price": 5, "mediaFiles": [g.vault[0], 987_654_321]},
                               "mediaFiles", "987654321"),
    "media of another creator's vault": (lambda g: {"mediaFiles": [g.elsewhere[0]]},
                                         "mediaFiles", "{elsewhere[0]}"),
    "a preview not among the media": (lambda g: {"mediaFiles": [g.vault[0]],
                                                 "previews": [g.vault[1]]},
                                      "previews", "{vault[1]}"),
    "a schedule in the past": (lambda g: {"scheduledDate": g.past}, "scheduledDate", "before"),
    "a schedule that is no instant": (lambda g: {"scheduledDate": "tomorrow"}, "scheduledDate",
                                      "tomorrow"),
    "lockedText not a bool": (lambda g: {"lockedText": "yes"}, "lockedText", "yes"),
    "user lists": (lambda g: {"userLists": ["fans"]}, "userLists", "userIds"),
}


@pytest.mark.parametrize("case", BAD_SENDS)
def test_a_bad_send_is_a_400_naming_the_field_and_is_not_retried(refusing, small_agency, creators,
                                                                 case):
    creator, other = creators
    given = SimpleNamespace(fan=fans_of(small_agency, creator)[0], vault=vault_of(small_agency, creator),
                            elsewhere=vault_of(small_agency, other),
                            past=(small_agency.end - timedelta(minutes=1)).isoformat())
    fields, field, detail = BAD_SENDS[case]
    good = {"userIds": fans_of(small_agency, creator)[:2], "text": "hi", "price": 0}
    body = {k: v for k, v in {**good, **fields(given)}.items() if v is not None}
    path = f"/api/{creator}/mass-messaging"
    with client(refusing.url) as c, pytest.raises(OfapiError) as err:
        c.post(path, body, endpoint=f"POST {path}", creator_id=creator)
    assert not isinstance(err.value, AmbiguousSend)
    message = str(err.value)
    assert "HTTP 400" in message and field in message and detail.format(**vars(given)) in message
    assert (c.requests_made, c.retries) == (1, 0)
    assert refusing.sim.mass_messaging.accepted == 0


@pytest.mark.parametrize("body", [b"userIds=1&text=hi", b"[1, 2]", b'{"userIds": [1', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_a_400_naming_the_body(refusing, creators, body):
    answer = httpx.post(f"{refusing.url}/api/{creators[0]}/mass-messaging", content=body,
                        headers={"Authorization": f"Bearer {API_KEY}"})
    assert answer.status_code == 400 and "body" in answer.json()["error"]
    assert refusing.sim.mass_messaging.accepted == 0


def test_a_send_for_an_unknown_account_is_a_404(refusing):
    with client(refusing.url) as c, pytest.raises(OfapiError) as err:
        c.send_mass_message("acct_nobody", fan_ids=[NOBODY], text="hi", price_cents=0, media_ids=[])
    assert "HTTP 404" in str(err.value) and not isinstance(err.value, AmbiguousSend)


# ---------------------------------------------------------------------------------------------
# Refused, lost, shared


def test_a_rate_limited_send_waits_is_retried_and_is_queued_exactly_once(small_agency, creators):
    creator = creators[0]
    first, second = fans_of(small_agency, creator)[:2], fans_of(small_agency, creator)[2:4]
    minute = [0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # waiting moves the simulator's minute on
        sleeps.append(seconds)
        minute[0] += 1

    with SimulatorServer(small_agency, api_key=API_KEY, mass_messages_per_minute=1,
                         mass_message_restricted_share=0) as s:
        s.sim.mass_messaging.minute = lambda: minute[0]
        with OfapiClient(s.url, API_KEY, sleep=sleep) as c:
            one = c.send_mass_message(creator, fan_ids=first, text="one", price_cents=0, media_ids=[])
            two = c.send_mass_message(creator, fan_ids=second, text="two", price_cents=0, media_ids=[])
            queue = c.mass_message_queue(creator)
        sends = s.stats()["requests"]["mass_message_send"]
        deliveries = s.sim.mass_messaging.deliveries(creator)
    assert sleeps == [1.0]  # the body's retry_after, over the header's 0
    assert (c.retries, sends) == (1, 3)
    assert [item["id"] for item in queue] == [two["id"], one["id"]]  # newest first, each once
    assert deliveries == {**{f: [one["id"]] for f in first}, **{f: [two["id"]] for f in second}}


def test_a_lost_answer_is_ambiguous_is_not_resent_and_the_message_is_in_the_queue(
    server, small_agency, creators
):
    creator = creators[0]
    fans = fans_of(small_agency, creator)[:3]
    server.sim.mass_messaging.lose_answers = {1}
    with client(server.url) as c:
        with pytest.raises(AmbiguousSend) as err:
            c.send_mass_message(creator, fan_ids=fans, text="did it go?", price_cents=0, media_ids=[])
        posts = c.requests_made
        [item] = c.mass_message_queue(creator)  # reconciling: the queue says it was taken
    assert (posts, c.retries) == (1, 0)
    assert server.stats()["requests"]["mass_message_send"] == 1
    assert f"POST /api/{creator}/mass-messaging (creator {creator})" in str(err.value)
    assert "HTTP 502" in str(err.value) and "read the queue" in str(err.value)
    assert (item["text"], item["total"], item["sentCount"]) == ("did it go?", 3, 3)
    assert server.sim.mass_messaging.deliveries(creator) == {fan: [item["id"]] for fan in fans}


def test_one_creator_never_reads_or_uses_another_creators_queue(server, small_agency, creators):
    a, b = creators
    with client(server.url) as c:
        mine = c.send_mass_message(a, fan_ids=fans_of(small_agency, a)[:2], text="a", price_cents=0,
                                   media_ids=[])
        theirs = c.send_mass_message(b, fan_ids=fans_of(small_agency, b)[:2], text="b",
                                     price_cents=0, media_ids=[])
        with pytest.raises(OfapiError) as err:
            c.mass_message(b, mine["id"])
        queues = {a: c.mass_message_queue(a), b: c.mass_message_queue(b)}
        own = c.mass_message(a, mine["id"])
    assert "HTTP 404" in str(err.value) and str(mine["id"]) in str(err.value)
    assert [i["id"] for i in queues[a]] == [mine["id"]]
    assert [i["id"] for i in queues[b]] == [theirs["id"]]
    assert own["id"] == mine["id"] and mine["id"] != theirs["id"]


def test_mass_messaging_needs_the_api_key(refusing, creators):
    url = f"{refusing.url}/api/{creators[0]}/mass-messaging"
    answers = [httpx.post(url, json={"userIds": [NOBODY], "text": "hi"}), httpx.get(url),
               httpx.get(f"{url}/1000001"),
               httpx.get(url, headers={"Authorization": "Bearer wrong-key"})]
    assert [a.status_code for a in answers] == [401, 401, 401, 401]
    assert refusing.sim.mass_messaging.accepted == 0


def test_mass_messaging_counts_in_the_stats_and_passes_the_throttle(small_agency, creators):
    creator = creators[0]
    with SimulatorServer(small_agency, api_key=API_KEY, throttle_every=2) as s, client(s.url) as c:
        c.mass_message_queue(creator)
        queued = c.send_mass_message(creator, fan_ids=[NOBODY], text="hi", price_cents=0,
                                     media_ids=[])  # throttled: refused, so sent again
        c.mass_message(creator, queued["id"])  # throttled too
        stats = s.stats()
    assert stats["requests"] == {"mass_message_queue": 1, "mass_message_send": 1, "mass_message": 1}
    assert stats["throttled"] == 2 and c.retries == 2
    assert s.sim.mass_messaging.accepted == 1


# ---------------------------------------------------------------------------------------------
# The client against scripted answers


class Scripted(Api):
    """test_client's scripted API, answering POSTs as well."""

    def app(self) -> Starlette:
        app = super().app()
        for route in app.routes:
            route.methods.add("POST")
        return app


def test_the_client_sends_dollars_iso_utc_and_the_media_and_checks_the_answer():
    bodies: list[dict] = []

    async def send(request: Request, n: int) -> Response:
        bodies.append(json.loads(await request.body()))
        return JSONResponse({"data": {"id": 5, "text": "no date"}, "_meta": META})

    api = Scripted({"/api/acct_1/mass-messaging": send})
    at = datetime(2026, 11, 2, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    with serve_app(api.app()) as url, client(url) as c, pytest.raises(ContractError) as err:
        c.send_mass_message("acct_1", fan_ids=[3, 4], text="hi", price_cents=999, media_ids=[8],
                            scheduled_at=at)
    assert bodies == [{"userIds": [3, 4], "text": "hi", "price": 9.99, "mediaFiles": [8],
                       "scheduledDate": "2026-11-02T07:30:00+00:00"}]
    assert "'date'" in str(err.value) and "POST /api/acct_1/mass-messaging" in str(err.value)


def test_a_5xx_or_a_read_timeout_on_a_send_is_ambiguous_at_once():
    async def slow(request: Request, n: int) -> Response:
        await asyncio.sleep(0.5)
        return JSONResponse({"data": {"id": 1, "date": "x"}})

    api = Scripted({"/api/acct_1/mass-messaging": lambda r, n: JSONResponse({"error": "boom"}, 503),
               "/api/acct_2/mass-messaging": slow})
    with serve_app(api.app()) as url:
        for creator, said in (("acct_1", "HTTP 503: boom"), ("acct_2", "ReadTimeout")):
            with client(url, read_timeout=0.1) as c, pytest.raises(AmbiguousSend) as err:
                c.send_mass_message(creator, fan_ids=[1], text="hi", price_cents=0, media_ids=[])
            assert (c.requests_made, c.retries) == (1, 0)
            assert said in str(err.value) and f"creator {creator}" in str(err.value)


def test_a_send_that_never_connected_is_retried_and_then_fails_plainly():
    sleeps: list[float] = []
    with client(f"http://127.0.0.1:{free_port()}", sleeps, max_attempts=3) as c, \
            pytest.raises(OfapiError) as err:
        c.send_mass_message("acct_1", fan_ids=[1], text="hi", price_cents=0, media_ids=[])
    assert not isinstance(err.value, AmbiguousSend)
    assert "ConnectError after 3 attempts" in str(err.value)
    assert (c.requests_made, c.retries, len(sleeps)) == (3, 2, 2)


def test_gets_of_the_queue_are_retried_like_every_read():
    answers = [JSONResponse({"error": "boom"}, 502),
               JSONResponse({"data": [{"id": 7, "date": "2026-11-01T00:00:00+00:00"}],
                             "_meta": META})]
    api = Scripted({"/api/acct_1/mass-messaging": lambda r, n: answers[n]})
    with serve_app(api.app()) as url, client(url) as c:
        assert [item["id"] for item in c.mass_message_queue("acct_1")] == [7]
    assert (c.requests_made, c.retries) == (2, 1)


def test_naive_scheduled_times_are_utc():
    bodies: list[dict] = []

    async def send(request: Request, n: int) -> Response:
        bodies.append(json.loads(await request.body()))
        return JSONResponse({"data": {"id": 5, "date": bodies[-1]["scheduledDate"]}})

    api = Scripted({"/api/acct_1/mass-messaging": send})
    with serve_app(api.app()) as url, client(url) as c:
        c.send_mass_message("acct_1", fan_ids=[3], text="hi", price_cents=0, media_ids=[],
                            scheduled_at=datetime(2026, 11, 2, 9, 30))
    assert bodies[0]["scheduledDate"] == datetime(2026, 11, 2, 9, 30, tzinfo=UTC).isoformat()
    assert bodies[0]["mediaFiles"] == []
