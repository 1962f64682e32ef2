"""`ofhq live serve`: the hot path and the live page, in one process (see live/app.py)."""

from __future__ import annotations

import os
from collections.abc import Callable

import click

from ofhq_pipeline.report.render import LastRun

# A live alert is tried briefly: the real-time run sends whatever it could not.
ALERT_ATTEMPTS = 2
ALERT_BACKOFF_S = 1.0


def telegram_sender() -> Callable[[str], str]:
    """Alerts as the real-time run sends them, configured from the same environment
    (TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID, TELEGRAM_API_BASE_URL), with fewer retries."""
    from ofhq_pipeline.resources.telegram import TelegramResource

    # The locked fields left unset are read from the environment when sending.
    return TelegramResource(max_attempts=ALERT_ATTEMPTS, max_backoff_s=ALERT_BACKOFF_S,
                            timeout_s=5.0).send


def dagster_flows() -> Callable[[], list[LastRun]] | None:
    """The data flows' last runs from the Dagster instance of DAGSTER_HOME (None without one)."""
    if not os.environ.get("DAGSTER_HOME"):
        return None
    import dagster as dg

    from ofhq_pipeline.defs.report.assets import flow_runs

    instance = dg.DagsterInstance.get()
    return lambda: flow_runs(instance)


def build_app(poll_s: float | None = None):
    """The app as `ofhq live serve` runs it, configured from the environment."""
    from ofhq_pipeline.live.app import create_app
    from ofhq_pipeline.live.auth import AuthSettings
    from ofhq_pipeline.live.hot_path import POLL_S, HotPath
    from ofhq_pipeline.live.members import MemberStore
    from ofhq_pipeline.live.state import LiveState
    from ofhq_pipeline.realtime.landing import LandingStore, landing_url_from_env
    from ofhq_pipeline.resources.alert_rules import AlertRules
    from ofhq_pipeline.settings import Paths

    auth = AuthSettings.from_env()
    rules = AlertRules()
    paths = Paths.from_env()
    state = LiveState(paths.analysts_marts, alert_window_hours=rules.window_hours,
                      tip_threshold_cents=rules.tip_threshold_cents)
    landing = LandingStore(landing_url_from_env())
    hot_path = HotPath(state, landing, telegram_sender(), rules.enabled,
                       poll_s=POLL_S if poll_s is None else poll_s)
    return create_app(hot_path, analysts_file=paths.analysts_marts, auth=auth,
                      members=MemberStore(landing_url_from_env()), flows=dagster_flows())


@click.group("live")
def live() -> None:
    """The live System Intelligence page and the real-time hot path."""


@live.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="interface to listen on")
@click.option("--port", default=8790, show_default=True, type=int, help="port to listen on")
@click.option("--poll-ms", default=50, show_default=True, type=int,
              help="how often the landing store is read for new events")
def serve_command(host: str, port: int, poll_ms: int) -> None:
    """Apply landed webhook events to live state within a second, send their alerts at once, and
    serve the live page (sign in at /login; `ofhq access password MEMBER` sets a password).

    Reads OFHQ_HOME (the analysts' file), OFHQ_LANDING_URL, TELEGRAM_*, DAGSTER_HOME (the data
    flows), OFHQ_MARTS_POSTGRES_URL (roles, when the Postgres marts are configured) and
    OFHQ_LIVE_* (sign-in: see docs/live.md).
    """
    import uvicorn

    from ofhq_pipeline.settings import keep_files_private

    keep_files_private()
    try:
        app = build_app(poll_s=poll_ms / 1000)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    # proxy_headers off: uvicorn would otherwise take the client's address from X-Forwarded-For,
    # and the trusted-proxy check of OFHQ_LIVE_AUTH=proxy must see the real peer.
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False,
                proxy_headers=False)
