"""Small chats written through the real raw → staging → marts.transactions models, shifts, and
the chatter models run on them."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest

from ofhq_pipeline.chatters.models import KpiSettings, chatter_session, write_kpi_marts
from ofhq_pipeline.chatters.shifts import Shift, ShiftProblem, ShiftSet, problem_frame, shift_frame
from ofhq_pipeline.lake import Lake, quote
from ofhq_pipeline_tests.builders import CREATOR, T0, fan, message, txn, write_sync
from ofhq_pipeline_tests.intelligence.fixtures import (  # noqa: F401 (fixtures)
    at,
    build_inputs,
    fake_fixture,
    lake_fixture,
    openai_url_fixture,
)
from ofhq_pipeline_tests.realtime.conftest import postgres_url  # noqa: F401 (a fixture)

AS_OF = T0 + timedelta(days=2)


class Chat:
    """One creator's messages and purchases; `write()` lands them as a sync and builds staging
    and `marts.transactions` (committed, as a finished run leaves them)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.messages: list[tuple[int, dict]] = []
        self.transactions: list[dict] = []
        self.fans: set[int] = set()
        self.next_id = 100
        self.syncs = 0

    def _add(self, fan_id: int, minute: float, **kwargs) -> int:
        self.next_id += 1
        self.messages.append((fan_id, message(self.next_id, fan_id, at(minute), **kwargs)))
        self.fans.add(fan_id)
        return self.next_id

    def fan(self, fan_id: int, minute: float, text: str = "hi") -> int:
        return self._add(fan_id, minute, from_fan=True, text=text)

    def creator(self, fan_id: int, minute: float, text: str = "hey", *, price: float = 0,
                mass: bool = False) -> int:
        return self._add(fan_id, minute, from_fan=False, text=text, price=price,
                         queue_id=9001 if mass else None)

    def buy(self, fan_id: int, minute: float, amount: float, kind: str = "message") -> str:
        tid = f"t{len(self.transactions) + 1}"
        self.transactions.append(txn(tid, fan_id, amount, at(minute), kind=kind))
        self.fans.add(fan_id)
        return tid

    def write(self, as_of: datetime = AS_OF) -> None:
        self.syncs += 1
        write_sync(self.lake, fetched_at=as_of - timedelta(hours=self.syncs),
                   fans=[fan(f) for f in sorted(self.fans)], transactions=self.transactions,
                   messages=self.messages)
        self.messages, self.transactions = [], []
        build_inputs(self.lake, as_of=as_of, run_id=f"inputs{self.syncs}")


def shift_set(*shifts: tuple[str, float, float], problems: tuple[ShiftProblem, ...] = (),
              creator_id: str = CREATOR) -> ShiftSet:
    """Shifts as (chatter, start minute, end minute) after T0."""
    return ShiftSet(
        shift_frame(Shift(creator_id, chatter, at(start), at(end), "test")
                    for chatter, start, end in shifts),
        problem_frame(problems), ("test",),
    )


def rows(path) -> list[dict]:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        rel = con.sql(f"SELECT * FROM read_parquet({quote(path)})")
        return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
    finally:
        con.close()


def build_kpis(lake: Lake, shifts: ShiftSet, *, as_of: datetime = AS_OF, run_id: str = "kpis",
               settings: KpiSettings | None = None) -> dict[str, list[dict]]:
    """Every KPI mart for the creator, as rows."""
    with chatter_session(lake, CREATOR, shifts, as_of=as_of, run_id=run_id,
                         settings=settings or KpiSettings()) as con:
        written = write_kpi_marts(lake, con, CREATOR, run_id)
    return {table: rows(path) for table, (path, _) in written.items()}


def attribution(lake: Lake, shifts: ShiftSet, *, as_of: datetime = AS_OF) -> dict[str, dict]:
    """chatters.message_attribution by message id and purchase_attribution by transaction id."""
    with chatter_session(lake, CREATOR, shifts, as_of=as_of) as con:
        out = {}
        for table, key in (("message_attribution", "message_id"),
                           ("purchase_attribution", "transaction_id")):
            rel = con.sql(f"SELECT * FROM chatters.{table}")
            out[table] = {r[rel.columns.index(key)]: dict(zip(rel.columns, r, strict=True))
                          for r in rel.fetchall()}
    return out


@pytest.fixture
def chat(lake) -> Chat:
    return Chat(lake)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def landing_url(request, tmp_path) -> str:
    """The landing store on SQLite, and on the real PostgreSQL (skipped without it)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'landing' / 'landing.db'}"
    return request.getfixturevalue("postgres_url")
