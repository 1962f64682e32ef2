"""The `ofhq` command: demo, sync, and the API simulator."""

from __future__ import annotations

import os
import secrets
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import duckdb
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ofhq_pipeline.blasts.commands import send_command
from ofhq_pipeline.intelligence.commands import classify
from ofhq_pipeline.live.commands import live
from ofhq_pipeline.realtime.commands import webhooks
from ofhq_pipeline.realtime.daemon import daemon
from ofhq_pipeline.run_start import give_way_to_realtime
from ofhq_pipeline.segments.commands import segments
from ofhq_pipeline.settings import Paths, keep_files_private, parse_instant
from ofhq_pipeline.vault.commands import vault
from ofhq_pipeline.warehouse.commands import access

console = Console(stderr=False)


@click.group()
def main() -> None:
    """ofhq-pipeline: OnlyFans agency data to fan marts, as a Dagster asset graph."""
    keep_files_private()


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
            ids = "+".join(run_id[:8] for run_id in run.run_ids)  # the sync's, and its marts'
            progress.console.print(f"  {run.creator_id}: {status}  fans={rows}  runs={ids}")
            progress.update(task, description="syncing")

        runs = sync(defs, instance, creators=creators, full=full, as_of=as_of,
                    on_start=on_start, on_done=on_done)
    return runs


@main.command("sync")
@click.option("--creator", "creators", multiple=True, help="ACCOUNT_ID to sync (repeatable); all by default.")
@click.option("--full", is_flag=True, help="Re-read all history instead of the incremental window.")
def sync_command(creators: tuple[str, ...], full: bool) -> None:
    """Materialize the batch path for one or all creators against OFAPI_BASE_URL."""
    give_way_to_realtime()  # a batch process: real-time runs first on the CPU (run_start.py)
    runs = run_sync(list(creators) or None, full)
    failed = [r for r in runs if not r.success]
    paths = Paths.from_env()
    console.print(f"{len(runs) - len(failed)}/{len(runs)} creators synced; analysts' file: {paths.analysts_marts}")
    sys.exit(1 if failed else 0)


main.add_command(webhooks)
main.add_command(daemon)
main.add_command(classify)
main.add_command(access)
main.add_command(live)
segments.add_command(send_command)
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
    # The demo is reproducible: "now" is pinned to the agency's last sale, unless pinned already.
    os.environ.setdefault("OFHQ_AS_OF", demo_as_of(agency).isoformat())
    shifts = demo_shifts(agency, parse_instant(os.environ["OFHQ_AS_OF"]), Paths.from_env().home)
    with SimulatorServer(agency, api_key=key, throttle_every=200) as server:
        os.environ["OFAPI_BASE_URL"] = server.url
        os.environ["OFAPI_API_KEY"] = key
        console.print(f"simulator serving on {server.url}; syncing as of {os.environ['OFHQ_AS_OF']}")
        console.print(f"chatter shifts: {shifts}")
        runs = run_sync(None, full=False)
    from ofhq_pipeline.defs.report.assets import materialize_report, report_summary

    materialize_report()
    print_summary(Paths.from_env())
    print_invariants(Paths.from_env())
    console.print(report_summary())
    print_blast_preview(Paths.from_env())
    if any(not r.success for r in runs):
        sys.exit(1)


def print_blast_preview(paths: Paths) -> None:
    """A dry run of a blast to the largest segment of one creator: who it would reach, who it
    leaves out and why (nothing is sent)."""
    from ofhq_pipeline.blasts.commands import run_blast, summary
    from ofhq_pipeline.blasts.plan import BlastRequest

    with duckdb.connect(str(paths.analysts_marts), read_only=True) as con:
        largest = con.execute("SELECT segment, creator_id FROM marts.segment_members "
                              "GROUP BY ALL ORDER BY count(*) DESC, 1, 2 LIMIT 1").fetchone()
    if largest is None:
        return
    segment, creator_id = largest
    request = BlastRequest(segment=segment, text="Something new, just for you",
                           blast_id="demo-dry-run")
    console.print(f"\n[bold]A blast to segment {segment}[/] for {creator_id}, dry run "
                  "(`ofhq segments send NAME --text ... --confirm` sends):")
    for _, result in run_blast(request, [creator_id]):
        for line in summary(result):
            if not line.startswith(("sample", "excluded_sample")):
                console.print(f"  {line}", markup=False)


def demo_as_of(agency) -> datetime:
    """The demo's "now": the agency's last transaction. The generated history ends at midnight
    (`agency.end`), where its latest messages are clipped; pinned there, today would be a day
    without a single sale. At the last sale, today is a day in progress with revenue in it."""
    last = agency.transactions["created_at"].max()
    return agency.end if last is None else min(last, agency.end)


# The demo's chatters: a team of three per creator, in the creators' order (numbered beyond).
DEMO_CHATTERS = ["ana", "ben", "cy", "dee", "eli", "fay", "gus", "hal", "ivy", "jo", "kai", "lea",
                 "max", "noa", "oli", "pia", "quin", "rae", "sam", "tia", "uma", "vic", "wes",
                 "xia", "yan", "zoe", "abe"]
DEMO_SHIFTS_FILE = "demo_chatter_shifts.csv"


def demo_chatter(k: int) -> str:
    name = DEMO_CHATTERS[k % len(DEMO_CHATTERS)]
    return name if k < len(DEMO_CHATTERS) else f"{name}{k // len(DEMO_CHATTERS) + 1}"


def demo_shifts(agency, as_of: datetime, home: Path) -> str:
    """A chatter schedule for the synthetic agency, so the chatter marts have something to show:
    the operator's own (OFHQ_CHATTER_SHIFTS, or $OFHQ_HOME/chatter_shifts.yaml) when there is
    one; otherwise back-to-back 8-hour shifts for every creator, from the first UTC day of the
    history to the end of as-of's day, each creator's team taking turns, set as
    OFHQ_CHATTER_SHIFTS. It is CSV: every run reads the file, and thousands of shifts parse in
    well under a second as CSV against seconds as YAML. Returns what the runs will read."""
    from ofhq_pipeline.chatters.shifts import DEFAULT_FILE_NAME, ENV_VAR, rotating_shifts

    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    if (home / DEFAULT_FILE_NAME).exists():
        return str(home / DEFAULT_FILE_NAME)
    first = min(t for t in (agency.messages["created_at"].min(),
                            agency.transactions["created_at"].min(), agency.end) if t is not None)
    start = first.replace(hour=0, minute=0, second=0, microsecond=0)
    today = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    end = today + timedelta(days=1)
    # As in real schedules, one handover is not clean: the first creator's evening chatter of
    # the day before as-of starts 15 minutes early, which marts.chatter_shift_issues reports (and
    # the no_overlapping_shifts check warns about) instead of crediting either chatter.
    early = today - timedelta(hours=8)
    lines = ["# Generated by `ofhq demo`: 8-hour shifts, each creator's team taking turns; one",
             "# handover (the first creator, the day before as-of, 16:00) overlaps by 15 minutes.",
             "creator_id,chatter,start,end"]
    for n, creator_id in enumerate(sorted(agency.accounts["id"].to_list())):
        team = [demo_chatter(3 * n + i) for i in range(3)]
        for shift in rotating_shifts([creator_id], team, start, end):
            begins = shift.start_at
            if n == 0 and begins == early:
                begins -= timedelta(minutes=15)
            lines.append(f"{creator_id},{shift.chatter},{begins:%Y-%m-%dT%H:%M:%SZ},"
                         f"{shift.end_at:%Y-%m-%dT%H:%M:%SZ}")
    path = home / DEMO_SHIFTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    os.environ[ENV_VAR] = str(path)
    return f"{path} ({len(lines) - 3} shifts, generated)"


def print_invariants(paths: Paths) -> None:
    """The fan profile invariants over the analysts' file, as the demo's last word on quality."""
    from ofhq_pipeline.marts.invariants import invariant_summary

    con = duckdb.connect(str(paths.analysts_marts), read_only=True)
    try:
        summary = invariant_summary(con)
    finally:
        con.close()
    if summary.could_not_judge:
        console.print(f"[yellow]fan profile invariants could not be judged[/]: "
                      f"{summary.could_not_judge}")
    elif summary.passed:
        console.print(f"fan profile invariants: [green]every rule holds[/] over "
                      f"{summary.fans:,} fans")
    else:
        broken = ", ".join(f"{rule} {n}" for rule, n in summary.by_rule.items() if n)
        console.print(f"fan profile invariants: [red]{summary.violations:,} violations[/] "
                      f"({broken})")


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
