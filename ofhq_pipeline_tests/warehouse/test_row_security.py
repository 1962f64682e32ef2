"""Nothing reads around the policies: forced row-level security on every table, security-invoker
views, a publisher that needs BYPASSRLS, and `apply_access` changing only what differs."""

from __future__ import annotations

import io

import psycopg2
import pytest
from click.testing import CliRunner
from psycopg2.extras import LoggingConnection

from ofhq_pipeline.warehouse.access import apply_access, grant, list_access
from ofhq_pipeline.warehouse.commands import access
from ofhq_pipeline.warehouse.db import libpq_dsn
from ofhq_pipeline.warehouse.postgres_marts import publish_to_postgres
from ofhq_pipeline_tests.warehouse.conftest import admin_execute
from ofhq_pipeline_tests.warehouse.marts import make_lake, write_run
from ofhq_pipeline_tests.warehouse.test_access import DENIED, visible

pytestmark = pytest.mark.postgres

A, B = "acct_alpha", "acct_beta"
TABLES = ("fan_profile", "transactions", "creators", "fan_facts", "messages")


def publish(tmp_path, url: str, prefix: str) -> None:
    lake = make_lake(tmp_path / "home")
    for creator in (A, B):
        write_run(lake, creator, 10, tables=TABLES)
    publish_to_postgres(
        url, lake.current_marts(), None, system_stats={"marts.fan_profile": 20},
        role_prefix=prefix,
    )


def dsn(url: str) -> str:
    return libpq_dsn(url)


def as_user(url: str, user: str) -> str:
    return url.replace("postgres@", f"{user}@", 1)


class Recording(LoggingConnection):
    """A connection that keeps every statement it runs."""

    def initialize(self, logobj=None) -> None:
        super().initialize(logobj or io.StringIO())
        self.statements: list[str] = []

    def filter(self, msg, curs):
        self.statements.append(msg.decode() if isinstance(msg, bytes) else msg)
        return msg


def security_state(url: str) -> list[tuple]:
    """Everything access control consists of in the schema: flags, grants, policies."""
    return admin_execute(
        """
        SELECT c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
               coalesce(c.relacl::text, ''), coalesce(c.reloptions::text, ''),
               coalesce((SELECT array_agg(p.polname || ':' || p.polroles::regrole[]::text
                                          || ':' || p.polcmd::text || ':' || p.polpermissive::text
                                          ORDER BY p.polname)
                         FROM pg_policy p WHERE p.polrelid = c.oid), '{}')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'ofhq_marts' AND c.relkind IN ('r', 'p', 'v')
        ORDER BY 1
        """,
        dsn=dsn(url),
    )


def test_every_table_forces_row_security_and_every_view_is_security_invoker(
    tmp_path, pg_url, role_prefix
) -> None:
    publish(tmp_path, pg_url, role_prefix)
    # A view created by hand, reading with its owner's rights (a superuser's: every row).
    admin_execute(
        "CREATE VIEW ofhq_marts.facts_per_creator AS"
        " SELECT creator_id, count(*) AS facts FROM ofhq_marts.fan_facts GROUP BY 1",
        dsn=dsn(pg_url),
    )
    emp, cfo = f"{role_prefix}_emp", f"{role_prefix}_cfo_member"
    grant(pg_url, emp, "employee", [A], role_prefix=role_prefix)  # applies access
    grant(pg_url, cfo, "cfo", role_prefix=role_prefix)

    relations = security_state(pg_url)
    tables = [r for r in relations if r[1] in ("r", "p")]
    views = [r for r in relations if r[1] == "v"]
    assert {"fan_profile", "fan_profile_money", "creator_assignments", "system_stats"} <= {
        r[0] for r in tables
    }
    assert [r[0] for r in tables if not (r[2] and r[3])] == []  # enabled and forced
    assert [r[0] for r in views] == ["facts_per_creator"]
    assert [r[0] for r in views if "security_invoker=true" not in r[5]] == []
    # Read as the employee, the view filters by his creators; the CFO is refused it.
    assert visible(pg_url, emp, "facts_per_creator") == {A: 1}
    assert visible(pg_url, cfo, "facts_per_creator") == DENIED


def test_publisher_needs_bypassrls_and_the_owner_is_filtered(
    tmp_path, pg_url, role_prefix
) -> None:
    publisher = f"{role_prefix}_publisher"
    database = pg_url.rsplit("/", 1)[1]
    admin_execute(
        f'CREATE ROLE "{publisher}" LOGIN CREATEROLE BYPASSRLS',
        f'GRANT CREATE ON DATABASE "{database}" TO "{publisher}"',
    )
    url = as_user(pg_url, publisher)
    publish(tmp_path, url, role_prefix)
    grant(url, f"{role_prefix}_emp", "employee", [A], role_prefix=role_prefix)
    assert [(m.roles, m.creators) for m in list_access(url, role_prefix=role_prefix)] == [
        (("employee",), (A,))
    ]
    assert admin_execute(
        "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace ="
        " 'ofhq_marts'::regnamespace AND relkind = 'r'",
        dsn=dsn(pg_url),
    ) == [(publisher,)]

    # Without BYPASSRLS, the owner reads through the policies like anyone (he has none)...
    admin_execute(f'ALTER ROLE "{publisher}" NOBYPASSRLS')
    conn = psycopg2.connect(dsn(url))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM ofhq_marts.fan_profile")
            assert cur.fetchone() == (0,)
    finally:
        conn.close()
    # ...so he may neither publish (COPY would be refused, DELETE miss every row) nor manage
    # assignments, and says why before changing anything.
    with pytest.raises(PermissionError, match="BYPASSRLS"):
        publish(tmp_path / "again", url, role_prefix)
    with pytest.raises(PermissionError, match="BYPASSRLS"):
        grant(url, f"{role_prefix}_emp", "employee", [B], role_prefix=role_prefix)
    runner = CliRunner(env={"OFHQ_MARTS_POSTGRES_URL": url, "OFHQ_MARTS_ROLE_PREFIX": role_prefix})
    for args in (["revoke", f"{role_prefix}_emp"], ["list"]):
        result = runner.invoke(access, args)
        assert result.exit_code == 2 and "BYPASSRLS" in result.output, result.output
    assert admin_execute(
        "SELECT creator_id FROM ofhq_marts.creator_assignments", dsn=dsn(pg_url)
    ) == [(A,)]


def test_apply_access_repairs_an_earlier_design_then_changes_nothing(
    tmp_path, pg_url, role_prefix
) -> None:
    publish(tmp_path, pg_url, role_prefix)
    both = f"{role_prefix}_both"
    grant(pg_url, both, "employee", [A], role_prefix=role_prefix)
    grant(pg_url, both, "cfo", role_prefix=role_prefix)
    designed = security_state(pg_url)
    p = role_prefix
    agency, cfo, employee = f'"{p}_agency"', f'"{p}_cfo"', f'"{p}_employee"'
    other = f"{p}x_other"  # another environment's group role: its policies are not ours
    admin_execute(f'CREATE ROLE "{other}" NOLOGIN')
    # The earlier design: one all-rows policy for the agency and the CFO on every creator-keyed
    # table, the CFO granted fan_profile, no forced row security; and leaks added by hand.
    statements = []
    for table in ("fan_facts", "fan_profile"):
        statements += [
            f'DROP POLICY "{p}_agency_rows" ON ofhq_marts.{table}',
            f'DROP POLICY "{p}_employee_rows" ON ofhq_marts.{table}',
            f'CREATE POLICY "{p}_all_rows" ON ofhq_marts.{table} FOR SELECT TO {agency}, {cfo}'
            " USING (true)",
            f'CREATE POLICY "{p}_assigned_creators" ON ofhq_marts.{table} FOR SELECT'
            f" TO {employee} USING (creator_id IN (SELECT a.creator_id FROM"
            " ofhq_marts.creator_assignments a WHERE a.member = current_user))",
            f"ALTER TABLE ofhq_marts.{table} NO FORCE ROW LEVEL SECURITY",
        ]
    statements += [
        f"GRANT SELECT, INSERT ON ofhq_marts.fan_profile TO {cfo}",
        "GRANT SELECT ON ofhq_marts.messages TO PUBLIC",
        "CREATE POLICY leak ON ofhq_marts.messages FOR SELECT TO PUBLIC USING (true)",
        f'ALTER POLICY "{p}_cfo_rows" ON ofhq_marts.transactions TO {cfo}, {employee}',
        # Kept: a restrictive policy only narrows; another environment's role is not ours.
        f"CREATE POLICY narrow ON ofhq_marts.transactions AS RESTRICTIVE FOR SELECT TO {agency}"
        " USING (true)",
        f'CREATE POLICY theirs ON ofhq_marts.fan_facts FOR SELECT TO "{other}" USING (true)',
    ]
    admin_execute(*statements, dsn=dsn(pg_url))
    assert visible(pg_url, both, "fan_facts") == {A: 7, B: 7}  # the leak
    assert visible(pg_url, both, "messages") == {A: 4, B: 4}

    conn = psycopg2.connect(dsn(pg_url))
    try:
        assert apply_access(conn, role_prefix)
        conn.commit()
    finally:
        conn.close()
    assert visible(pg_url, both, "fan_facts") == {A: 7}
    assert visible(pg_url, both, "messages") == {A: 4}
    repaired = security_state(pg_url)
    extra = {
        "fan_facts": f"theirs:{{{other}}}:r:true",
        "transactions": f"narrow:{{{p}_agency}}:r:false",
    }
    for before, after in zip(designed, repaired, strict=True):
        policies = list(after[6])
        if after[0] in extra:
            policies.remove(extra[after[0]])
        assert (*after[:6], policies) == before, after[0]

    # Applied again: it only reads the catalog, and nothing changes.
    conn = psycopg2.connect(dsn(pg_url), connection_factory=Recording)
    conn.initialize()
    try:
        assert apply_access(conn, role_prefix)
        conn.commit()
        statements = [s.strip() for s in conn.statements]
    finally:
        conn.close()
    assert statements and all(s.upper().startswith("SELECT") for s in statements), statements
    assert security_state(pg_url) == repaired
