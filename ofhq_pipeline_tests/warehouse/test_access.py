"""Access to the Postgres marts on the real PostgreSQL: roles, row-level security, grant/revoke."""

from __future__ import annotations

import psycopg2
import pytest
from click.testing import CliRunner
from psycopg2 import errors

from ofhq_pipeline.warehouse.access import CFO_TABLES, grant, list_access, revoke
from ofhq_pipeline.warehouse.commands import access
from ofhq_pipeline.warehouse.db import libpq_dsn
from ofhq_pipeline.warehouse.postgres_marts import publish_to_postgres
from ofhq_pipeline_tests.warehouse.marts import make_lake, write_run

pytestmark = pytest.mark.postgres

A, B = "acct_alpha", "acct_beta"
ROWS = {A: 30, B: 20}
DENIED = "denied"


def visible(url: str, member: str, table: str) -> dict[str, int] | str:
    """Rows per creator (or {'*': n} for a table without creator_id) that MEMBER sees in a table,
    or DENIED when Postgres refuses the query."""
    conn = psycopg2.connect(libpq_dsn(url))
    try:
        with conn.cursor() as cur:
            cur.execute(f'SET ROLE "{member}"')
            try:
                cur.execute(
                    "SELECT count(*) FROM information_schema.columns WHERE table_schema = "
                    "'ofhq_marts' AND table_name = %s AND column_name = 'creator_id'",
                    (table,),
                )
                keyed = cur.fetchone()[0] > 0
                if keyed:
                    cur.execute(f"SELECT creator_id, count(*) FROM ofhq_marts.{table} GROUP BY 1")
                    return dict(cur.fetchall())
                cur.execute(f"SELECT count(*) FROM ofhq_marts.{table}")
                return {"*": cur.fetchone()[0]}
            except errors.InsufficientPrivilege:
                return DENIED
    finally:
        conn.close()


def columns(url: str, member: str, table: str) -> list[str]:
    """The columns of a table MEMBER may read."""
    conn = psycopg2.connect(libpq_dsn(url))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0"
                " AND NOT attisdropped AND has_column_privilege(%s, attrelid, attnum, 'SELECT')"
                " ORDER BY attnum",
                (f"ofhq_marts.{table}", member),
            )
            return [name for (name,) in cur.fetchall()]
    finally:
        conn.close()


def everything(table: str) -> dict[str, int]:
    if table == "system_stats":
        return {"*": 3}
    if table == "creators":
        return {A: 1, B: 1}
    if table == "creator_revenue_daily":
        return {A: 5, B: 5}
    if table == "fan_facts":
        return {A: 7, B: 7}
    if table == "messages":
        return {A: 4, B: 4}
    return dict(ROWS)  # fan_profile, fan_profile_money, transactions


@pytest.fixture
def marts(tmp_path, pg_url, role_prefix):
    lake = make_lake(tmp_path / "home")
    for creator, rows in ROWS.items():
        write_run(lake, creator, rows, tables=(
            "fan_profile", "transactions", "creators", "creator_revenue_daily", "fan_facts",
            "messages",
        ))
    publish_to_postgres(
        pg_url, lake.current_marts(), None,
        system_stats={"marts.fan_profile": 50, "marts.transactions": 50, "raw.fans": 9},
        role_prefix=role_prefix,
    )
    return lake


MART_TABLES = (
    "fan_profile", "fan_profile_money", "transactions", "creators", "creator_revenue_daily",
    "fan_facts", "messages", "system_stats",
)


def test_each_role_sees_what_it_should(pg_url, role_prefix, marts) -> None:
    boss, cfo, emp = (f"{role_prefix}_{name}" for name in ("boss", "finance", "emp"))
    grant(pg_url, boss, "agency", role_prefix=role_prefix)
    grant(pg_url, cfo, "cfo", role_prefix=role_prefix)
    grant(pg_url, emp, "employee", [A], role_prefix=role_prefix)

    for table in MART_TABLES:
        assert visible(pg_url, boss, table) == everything(table), table
        expected_cfo = everything(table) if table in CFO_TABLES else DENIED
        assert visible(pg_url, cfo, table) == expected_cfo, table
        expected_emp = DENIED if table == "system_stats" else {A: everything(table)[A]}
        assert visible(pg_url, emp, table) == expected_emp, table
    # The CFO reads the money of every fan in fan_profile_money, and nothing of the classifier.
    assert visible(pg_url, cfo, "fan_profile") == DENIED
    assert visible(pg_url, cfo, "fan_profile_money") == ROWS
    money_columns = set(columns(pg_url, cfo, "fan_profile_money"))
    assert {"lifetime_spend_cents", "purchase_count", "last_purchase_at"} <= money_columns
    assert not money_columns & {"narrative_summary", "intent_ready_to_buy", "detail", "tags"}
    # The assignments: the agency sees all, an employee his own, the CFO nothing.
    assert visible(pg_url, boss, "creator_assignments") == {A: 1}
    assert visible(pg_url, emp, "creator_assignments") == {A: 1}
    assert visible(pg_url, cfo, "creator_assignments") == DENIED
    # Nobody writes: the marts are the pipeline's.
    conn = psycopg2.connect(libpq_dsn(pg_url))
    try:
        with conn.cursor() as cur:
            cur.execute(f'SET ROLE "{boss}"')
            with pytest.raises(errors.InsufficientPrivilege):
                cur.execute("DELETE FROM ofhq_marts.fan_profile")
    finally:
        conn.close()

    # A table a later publish creates is covered at once: RLS for employees, refused to the CFO.
    lake = marts
    for creator in ROWS:
        write_run(lake, creator, 1, tables=("fan_preferences",))
    publish_to_postgres(pg_url, lake.current_marts(), A, role_prefix=role_prefix)
    assert visible(pg_url, boss, "fan_preferences") == {A: 7, B: 7}
    assert visible(pg_url, emp, "fan_preferences") == {A: 7}
    assert visible(pg_url, cfo, "fan_preferences") == DENIED


def test_grant_then_revoke(pg_url, role_prefix, marts) -> None:
    emp, boss = f"{role_prefix}_emp", f"{role_prefix}_boss"
    grant(pg_url, emp, "employee", [A], role_prefix=role_prefix)
    grant(pg_url, emp, "employee", [B], role_prefix=role_prefix)  # additive
    assert visible(pg_url, emp, "fan_profile") == ROWS
    revoke(pg_url, emp, [B], role_prefix=role_prefix)  # one creator only
    assert visible(pg_url, emp, "fan_profile") == {A: ROWS[A]}
    grant(pg_url, boss, "agency", role_prefix=role_prefix)
    assert [(m.member, m.roles, m.creators) for m in list_access(pg_url, role_prefix=role_prefix)
            ] == [(boss, ("agency",), ()), (emp, ("employee",), (A,))]

    revoke(pg_url, emp, role_prefix=role_prefix)
    revoke(pg_url, boss, role_prefix=role_prefix)
    for table in ("fan_profile", "transactions", "system_stats"):
        assert visible(pg_url, emp, table) == DENIED
        assert visible(pg_url, boss, table) == DENIED
    assert list_access(pg_url, role_prefix=role_prefix) == []

    with pytest.raises(ValueError, match="at least one"):
        grant(pg_url, emp, "employee", role_prefix=role_prefix)
    with pytest.raises(ValueError, match="employees only"):
        grant(pg_url, emp, "cfo", [A], role_prefix=role_prefix)
    with pytest.raises(ValueError, match="group role"):
        grant(pg_url, f"{role_prefix}_agency", "agency", role_prefix=role_prefix)


def test_access_commands(pg_url, role_prefix, marts, monkeypatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("OFHQ_MARTS_ROLE_PREFIX", role_prefix)
    # Without the Postgres marts, members are kept in the embedded member store; with them,
    # only in Postgres.
    result = runner.invoke(access, ["grant", "someone", "--role", "agency"])
    assert result.exit_code == 0 and "in the embedded member store" in result.output

    monkeypatch.setenv("OFHQ_MARTS_POSTGRES_URL", pg_url)
    emp = f"{role_prefix}_carla"
    result = runner.invoke(access, ["grant", emp, "--role", "employee", "--creator", B])
    assert result.exit_code == 0, result.output
    assert visible(pg_url, emp, "fan_profile") == {B: ROWS[B]}
    result = runner.invoke(access, ["list"])
    assert f"{emp}\troles=employee\tcreators={B}" in result.output
    assert "someone" not in result.output
    result = runner.invoke(access, ["grant", emp, "--role", "employee"])
    assert result.exit_code == 2 and "at least one --creator" in result.output
    result = runner.invoke(access, ["revoke", emp])
    assert result.exit_code == 0, result.output
    assert visible(pg_url, emp, "fan_profile") == DENIED
