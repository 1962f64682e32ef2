"""A small agency, the simulator behind a proxy a test can alter, and what analysts read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

# A change to one API answer: (request path, JSON body) → None, editing the body in place.
Edit = Callable[[str, dict], None]


@pytest.fixture(scope="session")
def agency():
    """Three small creators: every promise here needs one or two of them, synced end to end."""
    from ofhq_pipeline.source.simulator import generate_agency

    return generate_agency(seed=7, scale=1 / 9)


class AlterableApi:
    """The simulator, reached through a proxy that applies the test's edits to every answer."""

    def __init__(self, simulator) -> None:
        self.simulator = simulator
        self.url = ""  # the proxy's, once it serves
        self.edits: list[Edit] = []

    def refund(self, transaction_id: str) -> None:
        """From now on the API shows this purchase refunded, as it does after a refund."""

        def refunded(path: str, body: dict) -> None:
            if path.endswith("/transactions"):
                for item in body["data"]["list"]:
                    if item["id"] == transaction_id:
                        item["status"] = "refunded"

        self.edits.append(refunded)

    def break_contract(self, creator_id: str) -> None:
        """From now on the creator's transactions lack their required `amount`."""

        def broken(path: str, body: dict) -> None:
            if path == f"/api/{creator_id}/transactions":
                for item in body["data"]["list"]:
                    item.pop("amount", None)

        self.edits.append(broken)


@pytest.fixture
def api(simulator) -> Iterator[AlterableApi]:
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from ofhq_pipeline_tests.servers import serve_app

    api = AlterableApi(simulator)

    async def proxy(request: Request) -> Response:
        if not hasattr(request.app.state, "client"):  # one pool, on the server's own loop
            request.app.state.client = httpx.AsyncClient()
        answer = await request.app.state.client.get(
            simulator.url + request.url.path, params=request.query_params,
            headers={"Authorization": request.headers.get("authorization", "")})
        body = answer.json()
        if answer.status_code == 200:
            for edit in api.edits:
                edit(request.url.path, body)
        return JSONResponse(body, status_code=answer.status_code)

    with serve_app(Starlette(routes=[Route("/{path:path}", proxy)])) as url:
        api.url = url
        yield api


def creator_rows(path: Path, creator_id: str) -> dict[str, list[tuple]]:
    """Every row of the creator in every table of the analysts' file that has a creator_id."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [name for (name,) in con.execute(
            "SELECT DISTINCT table_name FROM duckdb_columns() "
            "WHERE database_name = current_database() AND column_name = 'creator_id' "
            "ORDER BY 1").fetchall()]
        return {table: sorted(con.execute(f"SELECT * FROM marts.{table} WHERE creator_id = ?",
                                          [creator_id]).fetchall(), key=repr)
                for table in tables}
    finally:
        con.close()


def busiest_creators(agency, n: int) -> list[str]:
    """The n creators with the most transactions: enough purchases for every model's fit."""
    counts = agency.transactions.group_by("creator_id").len()
    return counts.sort(["len", "creator_id"], descending=[True, False])["creator_id"][:n].to_list()
