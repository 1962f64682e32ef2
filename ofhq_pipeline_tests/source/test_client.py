"""The API client against real HTTP servers on loopback: every paging style and error path."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ofhq_pipeline.source import client as client_module
from ofhq_pipeline.source.client import ContractError, OfapiClient, OfapiError
from ofhq_pipeline_tests.servers import free_port, serve_app

KEY = "secret-key-for-tests"
META = {"_rate_limits": {"limit_minute": 1000, "limit_day": 50000, "remaining_minute": 998,
                         "remaining_day": 49_998}, "_credits": {"used": 2, "balance": 77}}


class Api:
    """A scripted API: `routes[path](request, n)` answers the n-th request to that path."""

    def __init__(self, routes: dict[str, Callable[[Request, int], Response]]) -> None:
        self.routes = routes
        self.seen: list[Request] = []
        self.params: list[dict[str, str]] = []

    def app(self) -> Starlette:
        async def handle(request: Request) -> Response:
            path = request.url.path
            n = sum(1 for r in self.seen if r.url.path == path)
            self.seen.append(request)
            self.params.append(dict(request.query_params))
            answer = self.routes[path](request, n)
            return await answer if asyncio.iscoroutine(answer) else answer

        return Starlette(routes=[Route("/{path:path}", handle)])


def page(items: list, has_more: bool, **extra) -> JSONResponse:
    return JSONResponse({"data": {"list": items, "hasMore": has_more, **extra}, "_meta": META})


def client(url: str, sleeps: list[float] | None = None, **options) -> OfapiClient:
    record = sleeps.append if sleeps is not None else (lambda s: None)
    return OfapiClient(url, KEY, sleep=record, **options)


class TopOfRange(random.Random):
    """Jitter that always lands at the top of its range: each backoff is then its ceiling."""

    def random(self) -> float:
        return 1.0


@pytest.fixture
def jitter_at_top(monkeypatch):
    monkeypatch.setattr(client_module, "random", TopOfRange())


def tx(n: int, **fields) -> dict:
    base = {"id": f"tr_{n}", "amount": 5.0, "status": "done", "description": "Tip from x",
            "createdAt": "2026-10-01T00:00:00+00:00", "user": {"id": n}}
    return {**base, **fields}


def test_offset_paging_trusts_has_more_over_short_pages():
    fans = [{"id": i} for i in range(1, 46)]

    def fans_all(request: Request, n: int) -> Response:
        offset, limit = int(request.query_params["offset"]), int(request.query_params["limit"])
        size = 3 if n == 1 else limit  # a short page although more remain
        chunk = fans[offset:offset + size]
        return page(chunk, offset + len(chunk) < len(fans))

    api = Api({"/api/acct_1/fans/all": fans_all})
    with serve_app(api.app()) as url, client(url) as c:
        pages = list(c.fans("acct_1"))
    assert [f["id"] for p in pages for f in p] == list(range(1, 46))
    assert [len(p) for p in pages] == [20, 3, 20, 2]
    assert [p["offset"] for p in api.params] == ["0", "20", "23", "43"]
    assert {p["limit"] for p in api.params} == {"20"}
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in api.seen)
    assert c.rate_limits.remaining_minute == 998 and c.rate_limits.credits_balance == 77


def test_offset_paging_follows_next_page_urls():
    def chats(request: Request, n: int) -> Response:
        if n == 0:
            body = {"data": {"list": [{"fan": {"id": 1}}], "hasMore": True},
                    "_pagination": {"next_page": "https://elsewhere.example/api/acct_1/chats?cursor=abc"}}
            return JSONResponse(body)
        assert request.query_params["cursor"] == "abc"
        return page([{"fan": {"id": 2}}], False)

    api = Api({"/api/acct_1/chats": chats})
    with serve_app(api.app()) as url, client(url) as c:
        got = [chat["fan"]["id"] for p in c.chats("acct_1") for chat in p]
    assert got == [1, 2]
    # The next page was asked of our own base URL, never of the host the API named.
    assert all(r.url.hostname == "127.0.0.1" for r in api.seen)


def test_marker_paging_sends_start_date_and_follows_markers():
    def transactions(request: Request, n: int) -> Response:
        marker = request.query_params.get("marker")
        if marker is None:
            return page([tx(3), tx(2)], True, nextMarker="m1")
        assert marker == "m1"
        return page([tx(1)], False, nextMarker=None)

    api = Api({"/api/acct_1/transactions": transactions})
    start = datetime(2016, 1, 1, tzinfo=UTC)
    with serve_app(api.app()) as url, client(url) as c:
        got = [t["id"] for p in c.transactions("acct_1", start) for t in p]
    assert got == ["tr_3", "tr_2", "tr_1"]
    assert all(datetime.fromisoformat(p["startDate"]) == start for p in api.params)


def test_marker_paging_refuses_a_marker_that_does_not_move():
    api = Api({"/api/acct_1/transactions": lambda r, n: page([tx(n)], True, nextMarker="same")})
    with serve_app(api.app()) as url, client(url) as c, pytest.raises(ContractError, match="nextMarker"):
        list(c.transactions("acct_1", datetime(2020, 1, 1, tzinfo=UTC)))
    assert len(api.seen) == 2


def message(i: int) -> dict:
    return {"id": i, "text": "hi", "fromUser": {"id": 9}, "createdAt": "2026-10-01T00:00:00+00:00"}


def chat_messages(total: int, limit: int = 4):
    def handler(request: Request, n: int) -> Response:
        cursor = request.query_params.get("id")
        older = [i for i in range(total, 0, -1) if cursor is None or i < int(cursor)]
        return page([message(i) for i in older[:limit]], len(older) > limit)

    return handler


def test_message_id_cursor_pages_down_to_the_oldest():
    api = Api({"/api/acct_1/chats/9/messages": chat_messages(10)})
    with serve_app(api.app()) as url, client(url) as c:
        got = [m["id"] for p in c.messages("acct_1", 9) for m in p]
    assert got == list(range(10, 0, -1))
    assert [p.get("id") for p in api.params] == [None, "7", "3"]
    assert {p["order"] for p in api.params} == {"desc"}


def test_message_cursor_stops_at_the_newest_known_message():
    api = Api({"/api/acct_1/chats/9/messages": chat_messages(10)})
    with serve_app(api.app()) as url, client(url) as c:
        got = [m["id"] for p in c.messages("acct_1", 9, newer_than=5) for m in p]
    assert got == [10, 9, 8, 7, 6]
    assert len(api.seen) == 2  # the page holding message 5 is the last one asked for


def test_429_waits_the_larger_of_the_header_and_the_body():
    def accounts(request: Request, n: int) -> Response:
        if n == 0:
            return JSONResponse({"error": "Too many requests", "retry_after": 30}, status_code=429,
                                headers={"Retry-After": "0"})
        if n == 1:
            return JSONResponse({"error": "slow down"}, status_code=429, headers={"Retry-After": "7"})
        if n == 2:
            return JSONResponse({"error": "busy", "retry_after": 5}, status_code=429,
                                headers={"Retry-After": "12"})
        if n == 3:
            return JSONResponse({"error": "busy", "retry_after": 20}, status_code=429,
                                headers={"Retry-After": "3"})
        return JSONResponse({"data": [{"id": "acct_1"}]})

    sleeps: list[float] = []
    api = Api({"/api/accounts": accounts})
    with serve_app(api.app()) as url, client(url, sleeps) as c:
        assert c.accounts() == [{"id": "acct_1"}]
    assert sleeps == [30.0, 7.0, 12.0, 20.0]
    assert c.retries == 4 and c.requests_made == 5


def busy_five_times(status: int):
    return lambda r, n: (JSONResponse({"error": "busy"}, status_code=status) if n < 5
                         else JSONResponse({"data": []}))


@pytest.mark.parametrize("status", [429, 500, 503])
def test_without_a_hint_waits_back_off_exponentially_up_to_the_cap(jitter_at_top, status):
    api = Api({"/api/accounts": busy_five_times(status)})
    sleeps: list[float] = []
    with serve_app(api.app()) as url, client(url, sleeps, backoff_base_s=1, backoff_cap_s=4) as c:
        c.accounts()
    # the jitter at its top: each wait is its ceiling, base x 2^attempt held to the cap
    assert sleeps == [1.0, 2.0, 4.0, 4.0, 4.0]


@pytest.mark.parametrize("status", [429, 503])
def test_without_a_hint_waits_are_jittered_below_their_ceiling(monkeypatch, status):
    monkeypatch.setattr(client_module, "random", random.Random(11))
    api = Api({"/api/accounts": busy_five_times(status)})
    sleeps: list[float] = []
    with serve_app(api.app()) as url, client(url, sleeps, backoff_base_s=1, backoff_cap_s=4) as c:
        c.accounts()
    ceilings = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(sleeps) == 5
    assert all(0 <= wait <= top for wait, top in zip(sleeps, ceilings, strict=True))
    assert all(wait < top for wait, top in zip(sleeps, ceilings, strict=True))  # jittered


def test_5xx_is_retried_a_bounded_number_of_times_then_names_endpoint_and_creator():
    api = Api({"/api/acct_9/media/vault": lambda r, n: PlainTextResponse("boom", status_code=503)})
    sleeps: list[float] = []
    with serve_app(api.app()) as url, client(url, sleeps, max_attempts=3) as c, \
            pytest.raises(OfapiError) as err:
        list(c.vault_media("acct_9"))
    assert len(api.seen) == 3 and len(sleeps) == 2
    message_text = str(err.value)
    assert "GET /api/acct_9/media/vault" in message_text and "acct_9" in message_text
    assert "503" in message_text and KEY not in message_text


def test_5xx_then_success_returns_the_data(jitter_at_top):
    api = Api({"/api/acct_1/media/vault": lambda r, n: (
        PlainTextResponse("oops", status_code=502) if n == 0 else page([{"id": 1, "type": "photo"}], False))})
    sleeps: list[float] = []
    with serve_app(api.app()) as url, client(url, sleeps) as c:
        assert [m["id"] for p in c.vault_media("acct_1") for m in p] == [1]
    assert sleeps == [0.5]  # the default base, 0.5 s, before the second attempt


def test_other_4xx_fail_at_once_with_the_api_message():
    api = Api({"/api/acct_1/chats": lambda r, n: JSONResponse({"error": "Account acct_1 not found"},
                                                              status_code=404)})
    with serve_app(api.app()) as url, client(url) as c, pytest.raises(OfapiError) as err:
        list(c.chats("acct_1"))
    assert len(api.seen) == 1
    assert "404" in str(err.value) and "not found" in str(err.value) and "acct_1" in str(err.value)


def test_connection_errors_are_retried_then_reported(jitter_at_top):
    sleeps: list[float] = []
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with client(url, sleeps, max_attempts=3, backoff_base_s=1, backoff_cap_s=30) as c, \
            pytest.raises(OfapiError) as err:
        c.accounts()
    assert sleeps == [1.0, 2.0]  # backed off like a 5xx
    assert "ConnectError" in str(err.value) and "/api/accounts" in str(err.value)


def test_read_timeout_is_a_retried_transport_error():
    answer = threading.Event()  # the server answers nothing until the test is done

    async def silent(request: Request, n: int) -> Response:
        while not answer.is_set():
            await asyncio.sleep(0.01)
        return JSONResponse({"data": []})

    api = Api({"/api/accounts": silent})
    with serve_app(api.app()) as url:
        with client(url, max_attempts=2, read_timeout=0.1) as c, \
                pytest.raises(OfapiError, match="ReadTimeout"):
            c.accounts()
        deadline = time.monotonic() + 60  # a hang bound: the second attempt is on its way
        while len(api.seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        answer.set()
    assert len(api.seen) == 2


def test_an_answer_that_is_not_json_names_endpoint_and_creator():
    api = Api({"/api/acct_1/fans/all": lambda r, n: Response("<html>maintenance</html>",
                                                             media_type="text/html")})
    with serve_app(api.app()) as url, client(url) as c, pytest.raises(ContractError) as err:
        list(c.fans("acct_1"))
    text = str(err.value)
    assert "not JSON" in text and "GET /api/acct_1/fans/all" in text and "creator acct_1" in text


def test_an_answer_without_data_or_list_is_a_contract_error():
    api = Api({
        "/api/acct_1/fans/all": lambda r, n: JSONResponse({"result": []}),
        "/api/acct_1/chats": lambda r, n: JSONResponse({"data": {"items": []}}),
    })
    with serve_app(api.app()) as url, client(url) as c:
        with pytest.raises(ContractError, match="'data'"):
            list(c.fans("acct_1"))
        with pytest.raises(ContractError, match="data.list"):
            list(c.chats("acct_1"))


def test_a_missing_required_field_is_named_with_the_item():
    items = [tx(1), tx(2, amount=None), tx(3)]
    api = Api({"/api/acct_7/transactions": lambda r, n: page(items, False)})
    with serve_app(api.app()) as url, client(url) as c, pytest.raises(ContractError) as err:
        list(c.transactions("acct_7", datetime(2020, 1, 1, tzinfo=UTC)))
    text = str(err.value)
    assert "'amount'" in text and "tr_2" in text and "acct_7" in text and "transactions" in text


def test_field_name_variants_are_accepted_and_unknown_fields_reported():
    variant = {"id": "tr_v", "amount": 9.99, "net_amount": 7.99, "fee_amount": 2.0,
               "status": "completed", "created_at": "2026-10-01T00:00:00Z", "fan": {"id": 5},
               "promoCode": "X1"}
    chargeback = {"id": "cb_1", "createdAt": "2026-10-02T00:00:00Z",
                  "payment": {"id": "tr_v", "amount": 9.99, "status": "done",
                              "createdAt": "2026-10-01T00:00:00Z"}}
    api = Api({"/api/acct_1/transactions": lambda r, n: page([variant], False),
               "/api/acct_1/chargebacks": lambda r, n: page([chargeback], False)})
    start, end = datetime(2020, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    with serve_app(api.app()) as url, client(url) as c:
        assert list(c.transactions("acct_1", start)) == [[variant]]
        assert c.unknown_fields == {"transaction": {"promoCode"}}
        with pytest.raises(ContractError, match=r"payment\.user\|fan"):
            list(c.chargebacks("acct_1", start, end))
    assert api.params[-1]["start_date"] == start.isoformat()
    assert api.params[-1]["end_date"] == end.isoformat()


def test_no_key_means_no_authorization_header():
    api = Api({"/api/accounts": lambda r, n: JSONResponse({"data": []})})
    with serve_app(api.app()) as url, OfapiClient(url, None) as c:
        c.accounts()
    assert "authorization" not in api.seen[0].headers
