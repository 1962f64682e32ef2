"""`ofhq webhooks ...`: the real-time path's commands (added to the `ofhq` group by cli.py)."""

from __future__ import annotations

import click


@click.group()
def webhooks() -> None:
    """The webhook receiver of the real-time path."""


@webhooks.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="interface to listen on")
@click.option("--port", default=8787, show_default=True, type=int, help="port to listen on")
@click.option("--insecure", is_flag=True,
              help="accept unsigned deliveries when OFAPI_WEBHOOK_SECRET is unset (local tests "
                   "only; refused unless --host is a loopback address)")
@click.option("--stale-after-hours", type=float, default=None,
              help="land deliveries whose own time is older than this as stale, never applied "
                   "[default: $OFHQ_WEBHOOK_STALE_AFTER_HOURS, else 168]")
@click.option("--header-timeout", type=float, default=10.0, show_default=True,
              help="seconds a connection has to complete a request's headers")
@click.option("--body-timeout", type=float, default=10.0, show_default=True,
              help="seconds a request has to send its whole body")
@click.option("--max-connections", type=int, default=256, show_default=True,
              help="connections held at once; more are answered 503 and closed")
def serve_command(host: str, port: int, insecure: bool, stale_after_hours: float | None,
                  header_timeout: float, body_timeout: float, max_connections: int) -> None:
    """Run the receiver: POST /webhooks/ofapi lands signed deliveries, GET /healthz.

    Secrets come from OFAPI_WEBHOOK_SECRET (and, during a rotation, OFAPI_WEBHOOK_SECRET_PREVIOUS
    with OFAPI_WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT), the landing store from OFHQ_LANDING_URL
    (default sqlite:///$OFHQ_HOME/landing.db).
    """
    from ofhq_pipeline.realtime.receiver import ReceiverConfigError, ReceiverLimits, serve

    try:
        limits = ReceiverLimits(header_timeout=header_timeout, body_timeout=body_timeout,
                                max_connections=max_connections)
        serve(host, port, insecure=insecure, limits=limits, stale_after_hours=stale_after_hours)
    except ReceiverConfigError as exc:
        raise click.ClickException(str(exc)) from None


@webhooks.command("grant-role")
@click.argument("role")
def grant_role_command(role: str) -> None:
    """Create ROLE for the internet-facing receiver, allowed only to add rows to the landing
    tables (PostgreSQL).

    Connects with OFHQ_LANDING_URL as the tables' owner, creates the tables when missing, creates
    the LOGIN role without a password when missing, and leaves it exactly INSERT on
    webhook_events and webhook_quarantine and USAGE on their id sequences: no SELECT, UPDATE or
    DELETE. Give the role a password (or another authentication) and run the receiver with
    OFHQ_LANDING_URL naming it.
    """
    from ofhq_pipeline.postgres_url import is_postgres
    from ofhq_pipeline.realtime.landing import LandingStore, landing_url_from_env, safe_url

    url = landing_url_from_env()
    if not is_postgres(url):
        raise click.ClickException("a receiver role is for a PostgreSQL landing store: set "
                                   "OFHQ_LANDING_URL=postgresql://OWNER@HOST/DB")
    try:
        with LandingStore(url) as store:
            statements = store.grant_receiver_role(role)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    for statement in statements:
        click.echo(f"{statement};")
    click.echo(f"role {role} may now only add rows to the landing tables of {safe_url(url)}")
