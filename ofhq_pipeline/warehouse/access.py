"""Who sees what in the Postgres marts: three group roles and row-level security.

Group roles (NOLOGIN, cluster-wide; `ofhq` is the default prefix, OFHQ_MARTS_ROLE_PREFIX):

- `ofhq_agency`: every table of schema `ofhq_marts`, every row (also `creator_assignments`).
- `ofhq_cfo`: the money marts only, every row: `CFO_TABLES` (transactions, revenue, creators,
  fan_profile, system_stats). Fan facts, preferences, classifications, intent events, messages,
  and any table a later issue adds are refused until listed there.
- `ofhq_employee`: every creator-keyed mart (a table with a `creator_id` column), but only the
  rows of the creators assigned to the member in `ofhq_marts.creator_assignments`, enforced by
  row-level security; tables without `creator_id` (system_stats: agency-wide counts) are refused.

Members are LOGIN roles (created without a password when missing: set one with
`ALTER ROLE ... PASSWORD`, or authenticate them as the cluster does) that are granted one or more
of the group roles. Policies compare `creator_id` with the assignments of `current_user`, so they
hold for a member logged in as himself and for `SET ROLE member` alike.

`apply_access` makes the database match this, idempotently, changing only what differs (enabling
row-level security or creating a policy locks a table, so it is never done twice). Publishing
calls it in the same transaction that creates a new mart table, so a table is never visible to
anyone before its policies exist. The table owner (the publisher) bypasses row-level security.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from psycopg2 import errors
from psycopg2 import sql as pgsql

from ofhq_pipeline.warehouse.db import SCHEMA, connect, lock_marts, role_prefix_from_env

log = logging.getLogger(__name__)

ROLES = ("agency", "cfo", "employee")
ASSIGNMENTS = "creator_assignments"
# The money marts the CFO reads; every other table is refused to him.
CFO_TABLES = frozenset(
    {
        "transactions",
        "creator_revenue_daily",
        "creator_revenue_live",
        "creators",
        "fan_profile",
        "system_stats",
    }
)


def group_role(role: str, prefix: str | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    return f"{prefix or role_prefix_from_env()}_{role}"


def ident(*parts: str) -> pgsql.Composable:
    return pgsql.Identifier(*parts)


def ensure_schema(cur) -> None:
    cur.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident(SCHEMA)))
    cur.execute(
        pgsql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " member TEXT NOT NULL,"
            " creator_id TEXT NOT NULL,"
            " assigned_at TIMESTAMPTZ NOT NULL DEFAULT now(),"
            " PRIMARY KEY (member, creator_id))"
        ).format(ident(SCHEMA, ASSIGNMENTS))
    )


def role_exists(cur, name: str) -> bool:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
    return cur.fetchone() is not None


def create_role(cur, name: str, *, login: bool) -> bool:
    """CREATE ROLE unless it exists (also when another database's session creates it now)."""
    if role_exists(cur, name):
        return False
    cur.execute("SAVEPOINT create_role")
    try:
        cur.execute(
            pgsql.SQL("CREATE ROLE {} " + ("LOGIN" if login else "NOLOGIN")).format(ident(name))
        )
    except (errors.DuplicateObject, errors.UniqueViolation):
        cur.execute("ROLLBACK TO SAVEPOINT create_role")
        return False
    cur.execute("RELEASE SAVEPOINT create_role")
    return True


def can_create_roles(cur) -> bool:
    cur.execute("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")
    row = cur.fetchone()
    return bool(row and row[0])


def ensure_group_roles(cur, prefix: str) -> bool:
    """The three group roles exist (created NOLOGIN when missing and allowed to)."""
    names = [group_role(role, prefix) for role in ROLES]
    missing = [name for name in names if not role_exists(cur, name)]
    if missing and not can_create_roles(cur):
        return False
    for name in missing:
        create_role(cur, name, login=False)
    return True


@dataclass(frozen=True)
class TableInfo:
    name: str
    creator_keyed: bool
    rls: bool


def schema_tables(cur) -> list[TableInfo]:
    cur.execute(
        """
        SELECT c.relname,
               EXISTS (SELECT 1 FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attname = 'creator_id'
                         AND a.attnum > 0 AND NOT a.attisdropped),
               c.relrowsecurity
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
        ORDER BY c.relname
        """,
        (SCHEMA,),
    )
    return [TableInfo(name, bool(keyed), bool(rls)) for name, keyed, rls in cur.fetchall()]


def desired_readers(table: TableInfo, prefix: str) -> set[str]:
    """The group roles that may SELECT the table."""
    readers = {group_role("agency", prefix)}
    if table.name == ASSIGNMENTS:
        return readers | {group_role("employee", prefix)}  # their own rows only (policy)
    if table.name in CFO_TABLES:
        readers.add(group_role("cfo", prefix))
    if table.creator_keyed:
        readers.add(group_role("employee", prefix))
    return readers


def desired_policies(table: TableInfo, prefix: str) -> dict[str, pgsql.Composable]:
    """Policy name → CREATE POLICY statement, for a table under row-level security."""
    agency, cfo, employee = (group_role(role, prefix) for role in ROLES)
    name_all, name_own = f"{prefix}_all_rows", f"{prefix}_assigned_creators"
    table_id = ident(SCHEMA, table.name)
    if table.name == ASSIGNMENTS:
        return {
            name_all: pgsql.SQL("CREATE POLICY {} ON {} FOR SELECT TO {} USING (true)").format(
                ident(name_all), table_id, ident(agency)
            ),
            name_own: pgsql.SQL(
                "CREATE POLICY {} ON {} FOR SELECT TO {} USING (member = current_user)"
            ).format(ident(name_own), table_id, ident(employee)),
        }
    return {
        name_all: pgsql.SQL("CREATE POLICY {} ON {} FOR SELECT TO {}, {} USING (true)").format(
            ident(name_all), table_id, ident(agency), ident(cfo)
        ),
        name_own: pgsql.SQL(
            "CREATE POLICY {} ON {} FOR SELECT TO {} USING (creator_id IN ("
            "SELECT a.creator_id FROM {} AS a WHERE a.member = current_user))"
        ).format(ident(name_own), table_id, ident(employee), ident(SCHEMA, ASSIGNMENTS)),
    }


def current_grants(cur, roles: Sequence[str]) -> dict[tuple[str, str], set[str]]:
    """(table, role) → privileges granted directly on the tables of the schema."""
    cur.execute(
        """
        SELECT c.relname, r.rolname, a.privilege_type
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN LATERAL aclexplode(c.relacl) AS a
        JOIN pg_roles r ON r.oid = a.grantee
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND r.rolname = ANY(%s)
        """,
        (SCHEMA, list(roles)),
    )
    grants: dict[tuple[str, str], set[str]] = {}
    for table, role, privilege in cur.fetchall():
        grants.setdefault((table, role), set()).add(privilege)
    return grants


def existing_policies(cur) -> set[tuple[str, str]]:
    cur.execute("SELECT tablename, policyname FROM pg_policies WHERE schemaname = %s", (SCHEMA,))
    return {(table, policy) for table, policy in cur.fetchall()}


def schema_usage_missing(cur, roles: Iterable[str]) -> list[str]:
    cur.execute(
        """
        SELECT r.rolname FROM pg_roles r
        WHERE r.rolname = ANY(%s)
          AND NOT EXISTS (
            SELECT 1 FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) AS a
            WHERE n.nspname = %s AND a.grantee = r.oid AND a.privilege_type = 'USAGE')
        """,
        (list(roles), SCHEMA),
    )
    return [name for (name,) in cur.fetchall()]


def apply_access(conn, prefix: str | None = None) -> bool:
    """Grants, row-level security and policies on every table of `ofhq_marts`, as designed.

    Runs inside the caller's transaction (does not commit). Returns False, changing nothing but
    the schema, when the group roles do not exist and the connected user may not create them:
    the tables then stay readable by their owner only, never open to everyone.
    """
    prefix = prefix or role_prefix_from_env()
    with conn.cursor() as cur:
        ensure_schema(cur)
        if not ensure_group_roles(cur, prefix):
            log.warning(
                "group roles %s_* are missing and this user may not create them: run "
                "`ofhq access grant` as an administrator; the marts stay closed until then",
                prefix,
            )
            return False
        roles = [group_role(role, prefix) for role in ROLES]
        for role in schema_usage_missing(cur, roles):
            cur.execute(
                pgsql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(ident(SCHEMA), ident(role))
            )
        tables = schema_tables(cur)
        grants = current_grants(cur, roles)
        policies = existing_policies(cur)
        for table in tables:
            table_id = ident(SCHEMA, table.name)
            readers = desired_readers(table, prefix)
            for role in roles:
                held = grants.get((table.name, role), set())
                wanted = {"SELECT"} if role in readers else set()
                if held == wanted:
                    continue
                if held:
                    cur.execute(
                        pgsql.SQL("REVOKE ALL ON {} FROM {}").format(table_id, ident(role))
                    )
                if wanted:
                    cur.execute(
                        pgsql.SQL("GRANT SELECT ON {} TO {}").format(table_id, ident(role))
                    )
            if table.creator_keyed or table.name == ASSIGNMENTS:
                if not table.rls:
                    cur.execute(
                        pgsql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(table_id)
                    )
                for name, statement in desired_policies(table, prefix).items():
                    if (table.name, name) not in policies:
                        cur.execute(statement)
    return True


# ---- members -----------------------------------------------------------------------------


def _check_member(member: str, prefix: str) -> None:
    if not member or member.startswith("pg_"):
        raise ValueError(f"not a usable member name: {member!r}")
    if member in {group_role(role, prefix) for role in ROLES}:
        raise ValueError(f"{member!r} is a group role, not a member")


def grant(
    url: str,
    member: str,
    role: str,
    creators: Iterable[str] = (),
    *,
    role_prefix: str | None = None,
) -> None:
    """Give MEMBER a role (creating the LOGIN role when missing); employees get creators.

    Additive: granting again adds creators (or another role); `revoke` removes everything.
    """
    prefix = role_prefix or role_prefix_from_env()
    group = group_role(role, prefix)
    creators = sorted(set(creators))
    _check_member(member, prefix)
    if role == "employee" and not creators:
        raise ValueError("an employee needs at least one --creator")
    if role != "employee" and creators:
        raise ValueError(f"--creator applies to employees only: the {role} role sees every creator")
    with connect(url) as conn:
        with conn.cursor() as cur:
            lock_marts(cur)
        if not apply_access(conn, prefix):
            raise PermissionError("this user may not create the group roles (needs CREATEROLE)")
        with conn.cursor() as cur:
            create_role(cur, member, login=True)
            cur.execute(pgsql.SQL("GRANT {} TO {}").format(ident(group), ident(member)))
            for creator_id in creators:
                cur.execute(
                    pgsql.SQL(
                        "INSERT INTO {} (member, creator_id) VALUES (%s, %s) "
                        "ON CONFLICT DO NOTHING"
                    ).format(ident(SCHEMA, ASSIGNMENTS)),
                    (member, creator_id),
                )
        conn.commit()


def revoke(
    url: str,
    member: str,
    creators: Iterable[str] = (),
    *,
    role_prefix: str | None = None,
) -> None:
    """Take every group role and creator assignment from MEMBER (or only the creators given).

    The member's own login role is kept (it may own objects or be used elsewhere).
    """
    prefix = role_prefix or role_prefix_from_env()
    creators = sorted(set(creators))
    _check_member(member, prefix)
    with connect(url) as conn:
        with conn.cursor() as cur:
            lock_marts(cur)
            ensure_schema(cur)
            assignments = ident(SCHEMA, ASSIGNMENTS)
            if creators:
                cur.execute(
                    pgsql.SQL("DELETE FROM {} WHERE member = %s AND creator_id = ANY(%s)").format(
                        assignments
                    ),
                    (member, creators),
                )
            else:
                cur.execute(
                    pgsql.SQL("DELETE FROM {} WHERE member = %s").format(assignments), (member,)
                )
                for group in member_groups(cur, member, prefix):
                    cur.execute(pgsql.SQL("REVOKE {} FROM {}").format(ident(group), ident(member)))
        conn.commit()


def member_groups(cur, member: str, prefix: str) -> list[str]:
    """The group roles MEMBER is directly granted."""
    cur.execute(
        """
        SELECT g.rolname FROM pg_auth_members m
        JOIN pg_roles g ON g.oid = m.roleid
        JOIN pg_roles u ON u.oid = m.member
        WHERE u.rolname = %s AND g.rolname = ANY(%s)
        ORDER BY g.rolname
        """,
        (member, [group_role(role, prefix) for role in ROLES]),
    )
    return [name for (name,) in cur.fetchall()]


@dataclass(frozen=True)
class MemberAccess:
    member: str
    roles: tuple[str, ...]
    creators: tuple[str, ...]


def list_access(url: str, *, role_prefix: str | None = None) -> list[MemberAccess]:
    """Every member of a group role or with an assignment: roles (without prefix), creators."""
    prefix = role_prefix or role_prefix_from_env()
    groups = {group_role(role, prefix): role for role in ROLES}
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """
            SELECT u.rolname, g.rolname FROM pg_auth_members m
            JOIN pg_roles g ON g.oid = m.roleid
            JOIN pg_roles u ON u.oid = m.member
            WHERE g.rolname = ANY(%s)
            """,
            (list(groups),),
        )
        roles: dict[str, set[str]] = {}
        for member, group in cur.fetchall():
            roles.setdefault(member, set()).add(groups[group])
        creators: dict[str, set[str]] = {}
        cur.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.{ASSIGNMENTS}",))
        if cur.fetchone()[0] is not None:
            cur.execute(
                pgsql.SQL("SELECT member, creator_id FROM {}").format(ident(SCHEMA, ASSIGNMENTS))
            )
            for member, creator_id in cur.fetchall():
                creators.setdefault(member, set()).add(creator_id)
    return [
        MemberAccess(
            member,
            tuple(role for role in ROLES if role in roles.get(member, set())),
            tuple(sorted(creators.get(member, set()))),
        )
        for member in sorted(set(roles) | set(creators))
    ]
