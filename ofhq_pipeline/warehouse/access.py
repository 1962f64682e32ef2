"""Who sees what in the Postgres marts: three group roles, table grants and row-level security.

Group roles (NOLOGIN, cluster-wide; `ofhq` is the default prefix, OFHQ_MARTS_ROLE_PREFIX). Each
is granted SELECT on its tables and, on exactly those tables, one policy saying which rows:

- `ofhq_agency`: every table of schema `ofhq_marts` (also `creator_assignments`), every row.
- `ofhq_cfo`: the money marts only (`CFO_TABLES`), every row. Of the fan profile he reads
  `fan_profile_money`: who the fan is, his money and his subscription
  (`FAN_PROFILE_MONEY_COLUMNS`), none of the classifier's reading (personality, intents,
  objections, toxicity, narrative) nor the next best action drawn from it. `fan_profile`, fan
  facts, preferences, classifications, intent events, messages, and any table a later issue adds
  are refused until listed in `CFO_TABLES`.
- `ofhq_employee`: every creator-keyed table (one with a `creator_id` column), only the rows of
  the creators assigned to the member in `ofhq_marts.creator_assignments` (and there, his own
  assignments); tables without `creator_id` (system_stats: agency-wide counts) are refused.

**Roles add up, per table.** A member sees a row of a table if and only if one of his roles
grants both the table and the row, and every column of it. Postgres ORs every permissive policy
of every role the member belongs to, whichever role his SELECT privilege came from, so a role
has a policy on exactly the tables it is granted, never more (an all-rows policy for the CFO on
fan_facts would hand an employee who is also CFO every creator's facts).

**The CFO's columns are a table of their own**, `fan_profile_money` (`PROJECTIONS`), which the
publisher rewrites in the transaction that rewrites fan_profile. Neither column grants nor a view
add up right: with a column grant on fan_profile plus an all-rows policy, an employee who is also
CFO reads every column of every creator's fans (the employee's table grant, the CFO's policy); a
security-invoker view checks fan_profile with the reader's own privileges and policies, so the
CFO would need fan_profile's rows himself; a security-definer view reads around row-level
security. As a table, it is granted and row-filtered like any other: an employee who is also CFO
reads his creators' whole profiles in fan_profile and every creator's money in fan_profile_money.

**Nothing reads around the policies.** Every table is under FORCE ROW LEVEL SECURITY, so its owner
is filtered too (he has no policy): only a superuser or a BYPASSRLS role reads or writes every
row, and publishing and `ofhq access` require one (`db.require_rls_bypass`). Views in the schema
are made `security_invoker` (a view otherwise reads with its owner's rights, around the policies)
and granted like tables. Nothing is granted to PUBLIC, and a permissive policy for PUBLIC or for a
group role that this design does not have is dropped.

Members are LOGIN roles (created without a password when missing: set one with
`ALTER ROLE ... PASSWORD`, or authenticate them as the cluster does) that are granted one or more
of the group roles. Policies compare `creator_id` with the assignments of `current_user`, so they
hold for a member logged in as himself and for `SET ROLE member` alike.

`apply_access` makes the database match this, idempotently, changing only what differs (enabling
row-level security or creating a policy locks a table, so it is never done twice; a policy is
recognised by its name, role and command, so a changed USING clause needs a new name). Publishing
calls it in the same transaction that creates a new mart table, so a table is never visible to
anyone before its policies exist.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from psycopg2 import errors
from psycopg2 import sql as pgsql

from ofhq_pipeline.warehouse.db import (
    SCHEMA,
    connect,
    lock_marts,
    require_rls_bypass,
    role_prefix_from_env,
)

log = logging.getLogger(__name__)

ROLES = ("agency", "cfo", "employee")
ASSIGNMENTS = "creator_assignments"
PUBLIC = "PUBLIC"
FAN_PROFILE_MONEY = "fan_profile_money"
# The money marts the CFO reads; every other table is refused to him.
CFO_TABLES = frozenset(
    {
        "transactions",
        "creator_revenue_daily",
        "creator_revenue_live",
        "creators",
        FAN_PROFILE_MONEY,
        "system_stats",
    }
)
# The columns of fan_profile the CFO reads (in fan_profile_money): who the fan is, what he paid
# and his subscription. An allow-list, so a column fan_profile gains later stays refused to him.
FAN_PROFILE_MONEY_COLUMNS = frozenset(
    {
        # identity
        "creator_id",
        "fan_id",
        "username",
        "name",
        # money & purchases
        "lifetime_spend_cents",
        "lifetime_net_cents",
        "purchase_count",
        "avg_order_value_cents",
        "biggest_purchase_cents",
        "first_purchase_at",
        "last_purchase_at",
        "last_purchase_type",
        "last_purchase_cents",
        "tips_cents",
        "ppv_cents",
        "subscription_cents",
        "post_cents",
        "stream_cents",
        "price_range",
        "buyer_type",
        "ppv_sent_count",
        "ppv_bought_count",
        "conversion_rate",
        "discount_sensitivity",
        "chargeback_count",
        "refund_count",
        "chargeback_risk",
        "spend_tier",
        # subscription
        "subscribed_at",
        "subscription_status",
        "subscription_expires_at",
        # the instant every figure is computed as of
        "as_of",
    }
)
# Tables the publisher derives from a mart for a role that may read only some of its columns:
# name → (source table, the columns it keeps). Maintained by postgres_marts.refresh_projection.
PROJECTIONS: dict[str, tuple[str, frozenset[str]]] = {
    FAN_PROFILE_MONEY: ("fan_profile", FAN_PROFILE_MONEY_COLUMNS),
}


def group_role(role: str, prefix: str | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    return f"{prefix or role_prefix_from_env()}_{role}"


def ident(*parts: str) -> pgsql.Composable:
    return pgsql.Identifier(*parts)


def grantee(role: str) -> pgsql.Composable:
    return pgsql.SQL(PUBLIC) if role == PUBLIC else ident(role)


def ensure_schema(cur) -> None:
    """Schema and assignments table, created when missing (and only then: no DDL otherwise)."""
    cur.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.{ASSIGNMENTS}",))
    if cur.fetchone()[0] is not None:
        return
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
    """A table or view of the marts schema, as the catalog has it now."""

    name: str
    creator_keyed: bool
    is_view: bool = False
    rls: bool = False  # row-level security enabled (tables)
    forced: bool = False  # ... and forced on the owner too (tables)
    security_invoker: bool = False  # (views)


def schema_tables(cur) -> list[TableInfo]:
    """Every table and view of the schema (materialized views cannot carry row-level security:
    none is ever granted)."""
    cur.execute(
        """
        SELECT c.relname,
               EXISTS (SELECT 1 FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attname = 'creator_id'
                         AND a.attnum > 0 AND NOT a.attisdropped),
               c.relkind = 'v',
               c.relrowsecurity,
               c.relforcerowsecurity,
               (SELECT lower(o.option_value) FROM pg_options_to_table(c.reloptions) AS o
                WHERE o.option_name = 'security_invoker')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v')
        ORDER BY c.relname
        """,
        (SCHEMA,),
    )
    return [
        TableInfo(
            name,
            bool(keyed),
            bool(is_view),
            bool(rls),
            bool(forced),
            invoker in ("true", "on", "yes", "1"),
        )
        for name, keyed, is_view, rls, forced, invoker in cur.fetchall()
    ]


def desired_readers(table: TableInfo, prefix: str) -> set[str]:
    """The group roles that may SELECT the table; each has a policy there, and nowhere else."""
    readers = {group_role("agency", prefix)}
    if table.name == ASSIGNMENTS:
        return readers | {group_role("employee", prefix)}  # their own rows only (policy)
    if table.name in CFO_TABLES:
        readers.add(group_role("cfo", prefix))
    if table.creator_keyed:
        readers.add(group_role("employee", prefix))
    return readers


@dataclass(frozen=True)
class Policy:
    name: str
    role: str
    statement: pgsql.Composable


def desired_policies(table: TableInfo, prefix: str) -> dict[str, Policy]:
    """Policy name → the SELECT policy of each reader of a table (tables only, not views)."""
    employee = group_role("employee", prefix)
    policies = {}
    for role in sorted(desired_readers(table, prefix)):
        if role != employee:
            using = pgsql.SQL("true")
        elif table.name == ASSIGNMENTS:
            using = pgsql.SQL("member = current_user")
        else:
            using = pgsql.SQL(
                "creator_id IN (SELECT a.creator_id FROM {} AS a WHERE a.member = current_user)"
            ).format(ident(SCHEMA, ASSIGNMENTS))
        name = f"{role}_rows"
        policies[name] = Policy(
            name,
            role,
            pgsql.SQL("CREATE POLICY {} ON {} AS PERMISSIVE FOR SELECT TO {} USING ({})").format(
                ident(name), ident(SCHEMA, table.name), ident(role), using
            ),
        )
    return policies


def current_grants(cur, roles: Sequence[str]) -> dict[tuple[str, str], set[str]]:
    """(table, role) → privileges granted directly on the tables and views of the schema, to
    the roles given or to PUBLIC."""
    cur.execute(
        """
        SELECT c.relname, coalesce(r.rolname, 'PUBLIC'), a.privilege_type
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN LATERAL aclexplode(c.relacl) AS a
        LEFT JOIN pg_roles r ON r.oid = a.grantee
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v')
          AND (r.rolname = ANY(%s) OR a.grantee = 0)
        """,
        (SCHEMA, list(roles)),
    )
    grants: dict[tuple[str, str], set[str]] = {}
    for table, role, privilege in cur.fetchall():
        grants.setdefault((table, role), set()).add(privilege)
    return grants


@dataclass(frozen=True)
class ExistingPolicy:
    table: str
    name: str
    roles: frozenset[str]  # role names; 'public' for PUBLIC
    command: str  # SELECT, ALL, INSERT, UPDATE, DELETE
    permissive: bool


def existing_policies(cur) -> list[ExistingPolicy]:
    cur.execute(
        "SELECT tablename, policyname, roles::text[], cmd, permissive = 'PERMISSIVE'"
        " FROM pg_policies WHERE schemaname = %s",
        (SCHEMA,),
    )
    return [
        ExistingPolicy(table, name, frozenset(roles), command, permissive)
        for table, name, roles, command, permissive in cur.fetchall()
    ]


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


def apply_grants(cur, table: TableInfo, readers: set[str], held: dict[str, set[str]]) -> None:
    """SELECT for each reader, nothing for the other group roles nor for PUBLIC."""
    table_id = ident(SCHEMA, table.name)
    for role, privileges in held.items():
        wanted = {"SELECT"} if role in readers else set()
        if privileges and privileges != wanted:
            cur.execute(pgsql.SQL("REVOKE ALL ON {} FROM {}").format(table_id, grantee(role)))
            held[role] = set()
    for role in sorted(readers):
        if held.get(role) != {"SELECT"}:
            cur.execute(pgsql.SQL("GRANT SELECT ON {} TO {}").format(table_id, ident(role)))


def apply_row_security(
    cur, table: TableInfo, prefix: str, roles: Sequence[str], policies: list[ExistingPolicy]
) -> None:
    """Row-level security enabled and forced, and exactly the policies of its readers."""
    table_id = ident(SCHEMA, table.name)
    if not table.rls:
        cur.execute(pgsql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(table_id))
    if not table.forced:
        cur.execute(pgsql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(table_id))
    wanted = desired_policies(table, prefix)
    managed = {*roles, "public"}  # another environment's roles keep their own policies
    kept = set()
    for policy in policies:
        want = wanted.get(policy.name)
        if (
            want is not None
            and policy.roles == {want.role}
            and policy.command == "SELECT"
            and policy.permissive
        ):
            kept.add(policy.name)
            continue
        # A permissive policy widens what its roles see, whichever role granted the table:
        # one the design does not have (an earlier design's, or one added by hand) goes.
        # Restrictive policies only narrow, and are left alone.
        if want is not None or (policy.permissive and policy.roles & managed):
            cur.execute(pgsql.SQL("DROP POLICY {} ON {}").format(ident(policy.name), table_id))
    for name, policy in wanted.items():
        if name not in kept:
            cur.execute(policy.statement)


def apply_access(conn, prefix: str | None = None) -> bool:
    """Grants, row-level security and policies on every table of `ofhq_marts`, as designed.

    Runs inside the caller's transaction (does not commit). Returns False, changing nothing but
    the schema, when the group roles do not exist and the connected user may not create them:
    the tables then stay closed to every reader, never open to everyone.
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
        grants = current_grants(cur, roles)
        policies = existing_policies(cur)
        for table in schema_tables(cur):
            held = {role: got for (name, role), got in grants.items() if name == table.name}
            apply_grants(cur, table, desired_readers(table, prefix), held)
            if table.is_view:
                if not table.security_invoker:
                    cur.execute(
                        pgsql.SQL("ALTER VIEW {} SET (security_invoker = true)").format(
                            ident(SCHEMA, table.name)
                        )
                    )
                continue
            own = [policy for policy in policies if policy.table == table.name]
            apply_row_security(cur, table, prefix, roles, own)
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
            require_rls_bypass(cur, "grant access to the marts")
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
            require_rls_bypass(cur, "revoke access to the marts")
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
        require_rls_bypass(cur, "list access to the marts")
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
