"""The `ofhq` command: demo, sync, and the API simulator."""

from __future__ import annotations

import os
import secrets
import sys
from datetime import UTC, datetime

import click
import duckdb
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ofhq_pipeline.intelligence.commands import classify
from ofhq_pipeline.realtime.commands import webhooks
from ofhq_pipeline.realtime.daemon import daemon
from ofhq_pipeline.segments.commands import segments
from ofhq_pipeline.settings import Paths, parse_instant
from ofhq_pipeline.vault.commands import vault
from ofhq_pipeline.warehouse.commands import access

console = Console(stderr=False)


@click.group()
def main() -> None:
    """ofhq-pipeline: OnlyFans agency data to fan marts, as a Dagster asset graph."""


def run_sync(creators: list[str] | None, full: bool, as_of: str | None = None) -> list:
    import dagster as dg

    from ofhq_pipeline.definitions import build_definitions
    from ofhq_pipeline.sync import ensure_dagster_home, sync

    ensure_dagster_home()
    defs = build_definitions()  # after the environment is final: resources read it here
    instance = dg.DagsterInstance.get()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("discovering creators", total=None)

        def on_start(selected: list[str]) -> None:
            progress.update(task, total=len(selected), description=f"syncing {selected[0]}")

        def on_done(run) -> None:
            progress.advance(task)
            rows = run.metadata.get("marts/fan_profile", {}).get("dagster/row_count", "-")
            status = "[green]ok[/]" if run.success else f"[red]FAILED[/] {run.error}"
            progress.console.print(f"  {run.creator_id}: {status}  fans={rows}  run={run.run_id[:8]}")
            progress.update(task, description="syncing")

        runs = sync(defs, instance, creators=creators, full=full, as_of=as_of,
                    on_start=on_start, on_done=on_done)
    return runs


@main.command("sync")
@click.option("--creator", "creators", multiple=True, help="ACCOUNT_ID to sync (repeatable); all by default.")
@click.option("--full", is_flag=True, help="Re-read all history instead of the incremental window.")
def sync_command(creators: tuple[str, ...], full: bool) -> None:
    """Materialize the batch path for one or all creators against OFAPI_BASE_URL."""
    runs = run_sync(list(creators) or None, full)
    failed = [r for r in runs if not r.success]
    paths = Paths.from_env()
    console.print(f"{len(runs) - len(failed)}/{len(runs)} creators synced; analysts' file: {paths.analysts_marts}")
    sys.exit(1 if failed else 0)


main.add_command(webhooks)
main.add_command(daemon)
main.add_command(classify)
main.add_command(access)
main.add_command(segments)
main.add_command(vault)


@main.group()
def simulator() -> None:
    """The synthetic agency, served over HTTP with the API contract's quirks."""


@simulator.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8788, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option("--scale", default=1.0, show_default=True)
@click.option("--end", default=None, help="Last instant of generated history (ISO-8601 or 'now').")
@click.option("--api-key", envvar="OFAPI_API_KEY", default=None, help="Require this bearer key.")
@click.option("--throttle-every", default=200, show_default=True, help="Every Nth request answers 429 (0: never).")
def simulator_serve(host, port, seed, scale, end, api_key, throttle_every) -> None:
    """Serve a synthetic agency with the REST endpoints of the contract."""
    from ofhq_pipeline.source.simulator import DEFAULT_END, generate_agency
    from ofhq_pipeline.source.simulator.server import serve_forever

    end_at = DEFAULT_END if end is None else (
        datetime.now(UTC).replace(minute=0, second=0, microsecond=0) if end == "now" else parse_instant(end)
    )
    agency = generate_agency(seed=seed, scale=scale, end=end_at)
    console.print(
        f"simulator: {agency.accounts.height} creators, {agency.fans.height} fans, "
        f"{agency.transactions.height} transactions, {agency.messages.height} messages "
        f"on http://{host}:{port}"
    )
    serve_forever(agency, host, port, api_key=api_key, throttle_every=throttle_every)


@main.command("demo")
@click.option("--seed", default=7, show_default=True)
@click.option("--scale", default=1.0, show_default=True)
def demo(seed: int, scale: float) -> None:
    """Generate a synthetic agency, serve it, sync every creator and show what was built."""
    from ofhq_pipeline.source.simulator import SimulatorServer, generate_agency

    agency = generate_agency(seed=seed, scale=scale)
    key = secrets.token_hex(16)  # the simulator requires a bearer key, as the real API does
    console.print(
        f"[bold]Synthetic agency[/] (seed {seed}, scale {scale}): {agency.accounts.height} creators, "
        f"{agency.fans.height} fans, {agency.transactions.height} transactions, "
        f"{agency.messages.height} messages"
    )
    # The demo is reproducible: "now" is the end of the generated history unless pinned otherwise.
    os.environ.setdefault("OFHQ_AS_OF", agency.end.isoformat())
    with SimulatorServer(agency, api_key=key, throttle_every=200) as server:
        os.environ["OFAPI_BASE_URL"] = server.url
        os.environ["OFAPI_API_KEY"] = key
        console.print(f"simulator serving on {server.url}; syncing as of {os.environ['OFHQ_AS_OF']}")
        runs = run_sync(None, full=False)
    from ofhq_pipeline.defs.report.assets import materialize_report, report_summary

    materialize_report()
    print_summary(Paths.from_env())
    console.print(report_summary())
    if any(not r.success for r in runs):
        sys.exit(1)


# What the demo prints: (title, query, column headings), read from the analysts' file.
SUMMARY = [
    ("marts.creators",
     "SELECT creator_id, username, fan_count, paying_fans, whales, "
     "lifetime_revenue_cents / 100.0 FROM marts.creators ORDER BY 6 DESC",
     ("creator", "username", "fans", "paying", "whales", "revenue $")),
    ("fans by buyer_type (marts.fan_profile)",
     "SELECT buyer_type, count(*), sum(lifetime_spend_cents) / 100.0 FROM marts.fan_profile "
     "GROUP BY 1 ORDER BY 2 DESC",
     ("buyer_type", "fans", "spend $")),
    ("fans by personality (marts.fan_personality)",
     "SELECT fan_type, classifier_model, count(*), round(avg(intent_ready_to_buy), 1), "
     "round(avg(intent_wants_custom), 1) FROM marts.fan_personality GROUP BY ALL ORDER BY 3 DESC",
     ("fan_type", "model", "fans", "avg ready_to_buy", "avg wants_custom")),
    ("facts the classifier kept (marts.fan_facts)",
     "SELECT category, count(*), any_value(value) FROM marts.fan_facts GROUP BY 1 ORDER BY 2 DESC",
     ("category", "facts", "e.g.")),
    ("marts.system_stats",
     "SELECT layer, table_name, row_count FROM marts.system_stats ORDER BY layer, table_name",
     ("layer", "table", "rows")),
]


def cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_summary(paths: Paths) -> None:
    """What the demo built, read back from the analysts' file the way an analyst would."""
    con = duckdb.connect(str(paths.analysts_marts), read_only=True)
    try:
        for title, query, headings in SUMMARY:
            table = Table(title=title)
            for heading in headings:
                table.add_column(heading)
            for row in con.execute(query).fetchall():
                table.add_row(*(cell(v) for v in row))
            console.print(table)
    finally:
        con.close()
    console.print(
        f"\nAnalysts' marts: [bold]{paths.analysts_marts}[/]\n"
        f"  duckdb -readonly {paths.analysts_marts} \"select * from marts.fan_profile limit 5\"\n"
        f"Warehouse (raw, staging, marts views): {paths.warehouse}\n"
        f"Dagster UI on the same runs: make dev"
    )


if __name__ == "__main__":
    main()
