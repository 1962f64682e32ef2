"""`ofhq access`: who sees what, in the Postgres marts or in the embedded member store.

    ofhq access grant MEMBER --role agency|cfo|employee [--creator ACCOUNT_ID ...]
    ofhq access revoke MEMBER [--creator ACCOUNT_ID ...]
    ofhq access list
    ofhq access password MEMBER [--stdin]

With OFHQ_MARTS_POSTGRES_URL set, grant, revoke and list manage the marts' roles: run them with
an administrator's URL, a superuser or a user with CREATEROLE and BYPASSRLS that owns the marts
(every table forces row-level security, so any other user would miss rows of the assignments).
Roles are named after OFHQ_MARTS_ROLE_PREFIX (default `ofhq`). The live page reads its members'
roles from there too.

Without it, they manage the embedded member store, the live page's own roles, kept in the landing
store's database (OFHQ_LANDING_URL, SQLite under OFHQ_HOME by default): one deployment, one list
of who sees what.

`password` sets the password a member signs in to the live page with, in the landing store's
database in both cases (only its argon2id hash is kept). It is read from a prompt, twice, or from
standard input with --stdin, never from an argument: arguments end up in shell histories and in
every process listing.
"""

from __future__ import annotations

import click

from ofhq_pipeline.live.members import MemberStore, member_access
from ofhq_pipeline.warehouse import access as acl
from ofhq_pipeline.warehouse.db import URL_ENV, marts_url_from_env, safe_url

EMBEDDED = "the embedded member store"


def marts_url() -> str:
    url = marts_url_from_env()
    if not url:
        raise click.UsageError(f"{URL_ENV} is not set: the Postgres marts are not configured")
    return url


def embedded_store() -> MemberStore:
    return MemberStore()


@click.group("access")
def access() -> None:
    """Who sees what: agency, cfo and employee roles, in the Postgres marts or the embedded
    member store, and the live page's passwords."""


@access.command("grant")
@click.argument("member")
@click.option(
    "--role", required=True, type=click.Choice(acl.ROLES),
    help="agency: every mart; cfo: the money marts (fan_profile_money, not fan_profile); "
    "employee: the creators given, only.",
)
@click.option(
    "--creator", "creators", multiple=True, metavar="ACCOUNT_ID",
    help="A creator whose rows an employee sees (repeatable; employees only).",
)
def grant_command(member: str, role: str, creators: tuple[str, ...]) -> None:
    """Give MEMBER a role (in Postgres, the login role is created without a password when
    missing)."""
    url = marts_url_from_env()
    try:
        if url:
            acl.grant(url, member, role, creators)
            where = safe_url(url)
        else:
            with embedded_store() as store:
                store.grant(member, role, creators)
                where = f"{EMBEDDED} ({safe_url(store.url)})"
    except (ValueError, PermissionError) as exc:
        raise click.UsageError(str(exc)) from exc
    scope = f" for {', '.join(sorted(set(creators)))}" if creators else ""
    click.echo(f"granted {role}{scope} to {member} in {where}")


@access.command("revoke")
@click.argument("member")
@click.option(
    "--creator", "creators", multiple=True, metavar="ACCOUNT_ID",
    help="Unassign only these creators (repeatable); by default every role and creator.",
)
def revoke_command(member: str, creators: tuple[str, ...]) -> None:
    """Take MEMBER's roles and creator assignments (or only the creators given)."""
    url = marts_url_from_env()
    try:
        if url:
            acl.revoke(url, member, creators)
            where = safe_url(url)
        else:
            with embedded_store() as store:
                store.revoke(member, creators)
                where = f"{EMBEDDED} ({safe_url(store.url)})"
    except (ValueError, PermissionError) as exc:
        raise click.UsageError(str(exc)) from exc
    what = f"creators {', '.join(sorted(set(creators)))}" if creators else "all access"
    click.echo(f"revoked {what} from {member} in {where}")


@access.command("list")
def list_command() -> None:
    """Every member with a role or an assigned creator."""
    url = marts_url_from_env()
    try:
        if url:
            rows = acl.list_access(url)
        else:
            with embedded_store() as store:
                rows = store.list()
                click.echo(f"members of {EMBEDDED} ({safe_url(store.url)}):")
    except PermissionError as exc:
        raise click.UsageError(str(exc)) from exc
    if not rows:
        click.echo("no members")
    for row in rows:
        creators = ", ".join(row.creators) or "-"
        click.echo(f"{row.member}\troles={','.join(row.roles) or '-'}\tcreators={creators}")


@access.command("password")
@click.argument("member")
@click.option(
    "--stdin", "from_stdin", is_flag=True,
    help="Read the password from standard input (its first line) instead of a prompt.",
)
def password_command(member: str, from_stdin: bool) -> None:
    """Set the password MEMBER signs in to the live page with (at least 12 characters)."""
    if from_stdin:
        password = click.get_text_stream("stdin").readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with MemberStore() as store:
            store.set_password(member, password)
            where = safe_url(store.url)
            has_role = _has_role(member, store)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"password set for {member} in {where}")
    if has_role is False:
        click.echo(f"{member} has no role yet and cannot sign in: "
                   f"`ofhq access grant {member} --role ...`")


def _has_role(member: str, store: MemberStore) -> bool | None:
    """Whether the member has a role where the live page reads them; None when that cannot be
    read from here (listing the marts' roles needs an administrator's URL)."""
    try:
        access = member_access(member, store=store)
    except Exception:  # a reminder only: never fail the password change over it
        return None
    return access is not None and bool(access.roles)
