"""`ofhq access`: who sees what in the Postgres marts (OFHQ_MARTS_POSTGRES_URL).

    ofhq access grant MEMBER --role agency|cfo|employee [--creator ACCOUNT_ID ...]
    ofhq access revoke MEMBER [--creator ACCOUNT_ID ...]
    ofhq access list

Run them with an administrator's URL: a superuser, or a user with CREATEROLE and BYPASSRLS that
owns the marts (every table forces row-level security, so any other user would miss rows of the
assignments). Roles are named after OFHQ_MARTS_ROLE_PREFIX (default `ofhq`).
"""

from __future__ import annotations

import click

from ofhq_pipeline.warehouse import access as acl
from ofhq_pipeline.warehouse.db import URL_ENV, marts_url_from_env, safe_url


def marts_url() -> str:
    url = marts_url_from_env()
    if not url:
        raise click.UsageError(f"{URL_ENV} is not set: the Postgres marts are not configured")
    return url


@click.group("access")
def access() -> None:
    """Who sees what in the Postgres marts: agency, cfo and employee roles."""


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
    """Give MEMBER a role (the login role is created, without a password, when missing)."""
    url = marts_url()
    try:
        acl.grant(url, member, role, creators)
    except (ValueError, PermissionError) as exc:
        raise click.UsageError(str(exc)) from exc
    scope = f" for {', '.join(sorted(set(creators)))}" if creators else ""
    click.echo(f"granted {role}{scope} to {member} in {safe_url(url)}")


@access.command("revoke")
@click.argument("member")
@click.option(
    "--creator", "creators", multiple=True, metavar="ACCOUNT_ID",
    help="Unassign only these creators (repeatable); by default every role and creator.",
)
def revoke_command(member: str, creators: tuple[str, ...]) -> None:
    """Take MEMBER's roles and creator assignments (or only the creators given)."""
    url = marts_url()
    try:
        acl.revoke(url, member, creators)
    except (ValueError, PermissionError) as exc:
        raise click.UsageError(str(exc)) from exc
    what = f"creators {', '.join(sorted(set(creators)))}" if creators else "all access"
    click.echo(f"revoked {what} from {member} in {safe_url(url)}")


@access.command("list")
def list_command() -> None:
    """Every member with a role or an assigned creator."""
    try:
        rows = acl.list_access(marts_url())
    except PermissionError as exc:
        raise click.UsageError(str(exc)) from exc
    if not rows:
        click.echo("no members")
    for row in rows:
        creators = ", ".join(row.creators) or "-"
        click.echo(f"{row.member}\troles={','.join(row.roles) or '-'}\tcreators={creators}")
