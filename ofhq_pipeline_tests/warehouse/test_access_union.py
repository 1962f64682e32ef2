"""Roles add up: a member with several roles reads, in every table of the marts, exactly the union
of what members with each of those roles alone read, cell by cell (row × column)."""

from __future__ import annotations

import itertools

import psycopg2
import pytest
from psycopg2 import errors

from ofhq_pipeline.warehouse.access import (
    CFO_TABLES,
    FAN_PROFILE_MONEY_COLUMNS,
    ROLES,
    grant,
)
from ofhq_pipeline.warehouse.db import libpq_dsn
from ofhq_pipeline.warehouse.postgres_marts import publish_to_postgres
from ofhq_pipeline_tests.warehouse.marts import freeze, make_lake, write_run

A, B = "acct_alpha", "acct_beta"
COMBINATIONS = [
    combo for size in range(1, len(ROLES) + 1) for combo in itertools.combinations(ROLES, size)
]
Cells = frozenset[tuple]


def member_of(prefix: str, combo: tuple[str, ...]) -> str:
    return f"{prefix}_m_{'_'.join(combo)}"


def schema_tables(cur) -> list[str]:
    cur.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'ofhq_marts' AND c.relkind IN ('r', 'p') ORDER BY 1"
    )
    return [name for (name,) in cur.fetchall()]


def cells(cur, member: str | None, table: str) -> Cells:
    """Every (row, column, value) MEMBER reads in a table (None: the superuser, everything): rows
    by ctid, columns those he may SELECT. Empty when he may read no column, after checking that
    Postgres does refuse him the table."""
    relation = f"ofhq_marts.{table}"
    cur.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0"
        " AND NOT attisdropped AND has_column_privilege(coalesce(%s, current_user), attrelid,"
        " attnum, 'SELECT') ORDER BY attnum",
        (relation, member),
    )
    columns = [name for (name,) in cur.fetchall()]
    if member is not None:
        cur.execute(f'SET ROLE "{member}"')
    try:
        if not columns:
            with pytest.raises(errors.InsufficientPrivilege):
                cur.execute(f"SELECT 1 FROM {relation}")
            return frozenset()
        select = ", ".join(f'"{name}"' for name in columns)
        cur.execute(f"SELECT ctid::text, {select} FROM {relation}")
        return frozenset(
            (row[0], column, freeze(value))
            for row in cur.fetchall()
            for column, value in zip(columns, row[1:], strict=True)
        )
    finally:
        cur.execute("RESET ROLE")


def creators_in(found: Cells) -> set:
    return {value for _, column, value in found if column == "creator_id"}


def columns_in(found: Cells) -> set[str]:
    return {column for _, column, _ in found}


@pytest.mark.postgres
def test_every_combination_of_roles_reads_the_union_of_its_roles(
    tmp_path, pg_url, role_prefix
) -> None:
    lake = make_lake(tmp_path / "home")
    write_run(lake, A, 12)
    write_run(lake, B, 9)
    publish_to_postgres(
        pg_url, lake.current_marts(), None,
        system_stats={"marts.fan_profile": 21, "raw.fans": 21}, role_prefix=role_prefix,
    )
    for combo in COMBINATIONS:
        member = member_of(role_prefix, combo)
        for role in combo:
            grant(pg_url, member, role, [A] if role == "employee" else [],
                  role_prefix=role_prefix)

    conn = psycopg2.connect(libpq_dsn(pg_url))
    conn.autocommit = True  # a refused query must not abort the ones after it
    try:
        with conn.cursor() as cur:
            tables = schema_tables(cur)
            assert {
                "fan_profile", "fan_profile_money", "fan_facts", "fan_preferences", "messages",
                "transactions", "creators", "creator_revenue_daily", "system_stats",
                "creator_assignments",
            } <= set(tables)
            seen = {
                (combo, table): cells(cur, member_of(role_prefix, combo), table)
                for combo in COMBINATIONS
                for table in tables
            }
            everything = {table: cells(cur, None, table) for table in tables}
    finally:
        conn.close()

    # Each role alone: what the design says (so the union below is not vacuous).
    for table in tables:
        assert everything[table], table
        assert seen[("agency",), table] == everything[table], table
        cfo = seen[("cfo",), table]
        assert cfo == (everything[table] if table in CFO_TABLES else frozenset()), table
        employee = seen[("employee",), table]
        if table == "creator_assignments":
            assert creators_in(employee) == {A}
        elif "creator_id" in columns_in(everything[table]):
            own = rows_of(everything[table], A)
            assert own and employee == {cell for cell in everything[table] if cell[0] in own}
        else:
            assert employee == frozenset(), table

    # Every combination: exactly the union of its roles, cell by cell. The assignments are the
    # exception, as an employee reads his own there, which differ from member to member: all of
    # them with the agency role, his own with the employee role, none with the CFO's alone.
    for combo in COMBINATIONS:
        for table in tables:
            if table == "creator_assignments":
                continue
            union = frozenset().union(*(seen[(role,), table] for role in combo))
            assert seen[combo, table] == union, (combo, table)
        assignments = seen[combo, "creator_assignments"]
        if "agency" in combo:
            assert assignments == everything["creator_assignments"]
        elif "employee" in combo:
            member = member_of(role_prefix, combo)
            assert {value for _, column, value in assignments if column == "member"} == {member}
            assert creators_in(assignments) == {A}
        else:
            assert assignments == frozenset()

    # The case that leaked: an employee who is also CFO reads only his creators' facts, his
    # creators' whole profiles, and every creator's money without the classifier's columns.
    both = ("cfo", "employee")
    assert creators_in(seen[both, "fan_facts"]) == {A}
    assert creators_in(seen[both, "fan_profile"]) == {A}
    assert creators_in(seen[both, "fan_profile_money"]) == {A, B}
    assert "narrative_summary" in columns_in(seen[both, "fan_profile"])
    assert columns_in(seen[("cfo",), "fan_profile_money"]) <= FAN_PROFILE_MONEY_COLUMNS
    assert not columns_in(seen[("cfo",), "fan_profile_money"]) & {
        "narrative_summary", "intent_ready_to_buy",
    }


def rows_of(found: Cells, creator: str) -> set[str]:
    """The rows (ctids) of a creator among cells."""
    return {row for row, column, value in found if column == "creator_id" and value == creator}


def test_cfo_columns_are_the_money_of_the_data_dictionary() -> None:
    """The CFO's columns of fan_profile: identity, money and subscription, all of them, and
    nothing the classifier reads from the chat nor the next best action drawn from it."""
    from ofhq_pipeline.dictionary import FAN_PROFILE

    sections = {s.title: {c.name for c in s.columns} for s in FAN_PROFILE.sections}
    dictionary = {c.name for c in FAN_PROFILE.columns}
    assert not FAN_PROFILE_MONEY_COLUMNS - dictionary  # no misspelt or stray name
    assert (
        sections["Identity"] | sections["Money & purchases"] | sections["Subscription"]
        <= FAN_PROFILE_MONEY_COLUMNS
    )
    refused = (
        sections["Personality (classifier)"]
        | sections["Intent (classifier, 0-100 each)"]
        | {"last_objection", "top_objection", "classified_at", "classifier_model"}
        | {"next_best_action", "next_best_action_reason", "time_waster_score"}
    )
    assert not FAN_PROFILE_MONEY_COLUMNS & refused
    assert {"narrative_summary", "toxicity_flag", "fan_type"} <= refused
