"""`ofhq segments send NAME --text ... [--media M] [--price P] [--at TIME] [--confirm]`: a
blast to a segment, one `segment_blast` run per creator (in the Dagster instance, so it shows in
the UI like one launched from the launchpad with the same tags).

Without `--confirm` it is a dry run: who would get what and why, nothing sent or recorded.
`--resume ID` runs an earlier blast again: it sends only what the ledger says is missing and
reads back what the API did with what was sent.

The cli adds it to the `segments` group.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import click

from ofhq_pipeline.blasts.plan import TAGS, BlastRequest, BlastRequestError


def new_blast_id(segment: str) -> str:
    return f"{segment[:40]}-{datetime.now(UTC):%Y%m%dT%H%M%S}"


@click.command("send")
@click.argument("name")
@click.option("--text", required=True, help="The message (HTML allowed, as the API takes it).")
@click.option("--media", "media", default="", help="Vault media ids, comma-separated.")
@click.option("--price", default="0", show_default=True,
              help="Dollars (0, or 3 to 200), or 'recommended': each fan's suggested price.")
@click.option("--at", "at", default="now", show_default=True,
              help="'now', 'best' (each fan's most active hour) or an ISO-8601 instant.")
@click.option("--confirm", is_flag=True, help="Send. Without it: a dry run, nothing is sent.")
@click.option("--creator", "creators", multiple=True, help="ACCOUNT_ID (repeatable); all by default.")
@click.option("--resume", "blast_id", default=None,
              help="The id of an earlier blast: send what it has not sent yet.")
def send_command(name: str, text: str, media: str, price: str, at: str, confirm: bool,
                 creators: tuple[str, ...], blast_id: str | None) -> None:
    """Send a mass message to the fans of segment NAME (a dry run without --confirm)."""
    from ofhq_pipeline.sync import step_failure

    try:  # the same tags a launch from the launchpad carries, checked the same way
        request = BlastRequest.from_tags({
            TAGS["segment"]: name, TAGS["text"]: text, TAGS["media"]: media,
            TAGS["price"]: price, TAGS["at"]: at, TAGS["confirm"]: str(confirm).lower(),
            TAGS["id"]: blast_id or new_blast_id(name)})
    except BlastRequestError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"blast {request.blast_id} to segment {name}: "
               + ("sending" if confirm else "dry run (add --confirm to send)"))
    failed = False
    for creator_id, result in run_blast(request, list(creators)):
        click.echo(f"\n{creator_id} (run {result.run_id[:8]})")
        error = step_failure(result)
        failed = failed or error is not None
        for line in [f"FAILED {error}"] if error else summary(result):
            click.echo(f"  {line}")
    if failed:
        raise SystemExit(1)


def run_blast(request: BlastRequest, creators: list[str] | None = None) -> Iterator[tuple]:
    """One `segment_blast` run per creator (all known ones by default), in the Dagster instance
    at DAGSTER_HOME: (creator, result) as each ends."""
    import dagster as dg

    from ofhq_pipeline.definitions import build_definitions
    from ofhq_pipeline.defs.blasts.jobs import segment_blast_job
    from ofhq_pipeline.defs.partitions import creator_partitions
    from ofhq_pipeline.sync import ensure_dagster_home, quiet_logging

    ensure_dagster_home()
    defs = build_definitions()
    instance = dg.DagsterInstance.get()
    known = sorted(instance.get_dynamic_partitions(creator_partitions.name))
    unknown = sorted(set(creators or []) - set(known))
    if unknown or not known:
        raise click.ClickException(f"unknown creator(s) {unknown or ''}; known: {known or 'none'} "
                                   "(`ofhq sync` discovers them)")
    for creator_id in creators or known:
        yield creator_id, defs.resolve_job_def(segment_blast_job.name).execute_in_process(
            instance=instance, partition_key=creator_id, tags=request.tags(),
            run_config=quiet_logging(), raise_on_error=False)


def summary(result) -> list[str]:
    """What the run's blast step reported: the dry run's preview, or what was sent."""
    for event in result.all_events:
        if event.event_type_value == "ASSET_OBSERVATION":
            observed = event.asset_observation_data.asset_observation
            return [f"{k}: {v.value}" for k, v in observed.metadata.items() if k != "dry_run"]
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        if mat.asset_key.path == ["blasts", "sends"]:
            return [f"{k}: {v.value}" for k, v in mat.metadata.items()]
    return ["nothing to send (the blast is recorded and every fan of it was sent)"]
