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
              help="accept unsigned deliveries when OFAPI_WEBHOOK_SECRET is unset (local tests only)")
def serve_command(host: str, port: int, insecure: bool) -> None:
    """Run the receiver: POST /webhooks/ofapi lands signed deliveries, GET /healthz.

    Secrets come from OFAPI_WEBHOOK_SECRET (and OFAPI_WEBHOOK_SECRET_PREVIOUS during a rotation),
    the landing store from OFHQ_LANDING_URL (default sqlite:///$OFHQ_HOME/landing.db).
    """
    from ofhq_pipeline.realtime.receiver import ReceiverConfigError, serve

    try:
        serve(host, port, insecure=insecure)
    except ReceiverConfigError as exc:
        raise click.ClickException(str(exc)) from None
