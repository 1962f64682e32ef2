"""intermediate.fan_money, built incrementally: a build that starts from the last one gives the
table a build from nothing gives, through new purchases, refunds, chargebacks, purchases leaving
the 30 days before as_of and an as_of that moves back and forth; and it aggregates again only
the transactions of the fans whose transactions changed."""

from __future__ import annotations

import duckdb
import pytest

from ofhq_pipeline.lake import definition, empty_select, quote, sql_text
from ofhq_pipeline_tests.builders import (
    CREATOR,
    build_model,
    chargeback,
    day,
    fan,
    make_lake,
    stage,
    txn,
    write_sync,
)

KEY = "intermediate/fan_money"


@pytest.fixture
def lake(tmp_path):
    return make_lake(tmp_path)


def sync(lake, n: float, *, transactions=(), chargebacks=()) -> None:
    write_sync(lake, fetched_at=day(n), fans=[fan(1), fan(2), fan(3)],
               transactions=transactions, chargebacks=chargebacks)
    stage(lake)


def incremental(lake, as_of) -> dict[int, dict]:
    """The table as the model's asset builds it (from its last build), by fan."""
    build_model(lake, "marts/transactions", as_of=as_of)
    path = build_model(lake, KEY, as_of=as_of)
    return by_fan(f"SELECT * FROM read_parquet({quote(path)})")


def from_nothing(lake, as_of) -> dict[int, dict]:
    """The table built with no previous build to start from."""
    with lake.session(CREATOR, as_of=as_of, run_id="run1") as con:
        con.execute(f"CREATE OR REPLACE VIEW previous.fan_money AS {empty_select(KEY)}")
        return by_fan(sql_text(KEY), con)


def by_fan(select: str, con: duckdb.DuckDBPyConnection | None = None) -> dict[int, dict]:
    con = con or duckdb.connect()
    result = con.execute(f"SELECT * FROM ({select}) ORDER BY fan_id")
    columns = [d[0] for d in result.description]
    return {row[1]: dict(zip(columns, row, strict=True)) for row in result.fetchall()}


def test_a_build_from_the_last_one_equals_a_build_from_nothing(lake):
    builds = 0

    def same(as_of) -> dict[int, dict]:
        nonlocal builds
        built = incremental(lake, as_of)
        assert built == from_nothing(lake, as_of), f"build {builds} at {as_of}"
        builds += 1
        return built

    t1, t2 = txn("t1", 1, 10, day(1)), txn("t2", 2, 20, day(2))
    sync(lake, 3, transactions=[t1, t2, txn("t3", 2, 5, day(2.5), kind="tip")])
    first = same(day(3))
    assert (first[1]["lifetime_spend_cents"], first[2]["tips_cents"]) == (1000, 500)

    # A new purchase of fan 1; fan 2's purchase refunded; fan 3's first purchase.
    sync(lake, 5, transactions=[txn("t4", 1, 30, day(4)), {**t2, "status": "refunded"},
                                txn("t5", 3, 7, day(4.5))])
    second = same(day(5))
    assert (second[1]["purchase_count"], second[2]["refund_count"]) == (2, 1)

    # Fan 1's first purchase charged back.
    sync(lake, 6, chargebacks=[chargeback("c1", t1, day(5.5))])
    assert same(day(6))[1]["chargeback_count"] == 1

    # 40 days on, nothing new: every purchase has left the 30 days.
    later = same(day(40))
    assert {fan_id: row["purchase_cents_30d"] for fan_id, row in later.items()} == \
        {1: 0, 2: 0, 3: 0}
    # as_of back before the refund and the chargeback, then before anything, then on again.
    assert same(day(4.7))[1]["chargeback_count"] == 0
    assert same(day(0)) == {}
    same(day(40))


def marked(path) -> None:
    """The stored build with every fan's net spend one cent higher, as built by the current
    definition: a fan aggregated again loses the mark."""
    tmp = path.with_suffix(".marked")
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * REPLACE (lifetime_net_cents + 1 AS lifetime_net_cents) FROM "
                    f"read_parquet({quote(path)})) TO {quote(tmp)} "
                    f"(FORMAT parquet, KV_METADATA {{definition: '{definition(KEY)}'}})")
    tmp.replace(path)


def test_only_the_fans_whose_transactions_changed_are_aggregated_again(lake):
    sync(lake, 3, transactions=[txn("t1", 1, 10, day(1)), txn("t2", 2, 20, day(2))])
    incremental(lake, day(3))
    marked(lake.staging_path("fan_money", CREATOR, layer="intermediate"))
    sync(lake, 4, transactions=[txn("t3", 1, 30, day(3.5))])
    rows = incremental(lake, day(4))

    assert rows[1]["lifetime_net_cents"] == 3200  # fan 1 aggregated again: 800 + 2400
    assert rows[2]["lifetime_net_cents"] == 1601  # fan 2 kept from the last build
    # His purchase leaving the 30 days changes his fingerprint: he is aggregated again.
    assert incremental(lake, day(33))[2]["lifetime_net_cents"] == 1600
