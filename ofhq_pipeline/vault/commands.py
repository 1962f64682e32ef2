"""`ofhq vault status --creator ACCOUNT_ID --fan FAN_ID [--media MEDIA_ID]`: "has he bought
this?" for every item of the creator's vault (or one), read from the analysts' file.

The cli adds it with `main.add_command(vault)`.
"""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from ofhq_pipeline.settings import Paths
from ofhq_pipeline.vault.status import fan_vault_status


@click.group()
def vault() -> None:
    """The creator's vault: what each fan has of it."""


@vault.command("status")
@click.option("--creator", "creator_id", required=True, help="ACCOUNT_ID of the creator.")
@click.option("--fan", "fan_id", required=True, type=int, help="The fan's OnlyFans user id.")
@click.option("--media", "media_id", type=int, default=None, help="One vault item only.")
def status(creator_id: str, fan_id: int, media_id: int | None) -> None:
    """Never sent, sent free, offered and not bought, or bought: per vault item."""
    path = Paths.from_env().analysts_marts
    if not path.exists():
        raise click.ClickException(f"no analysts' file at {path}: run `ofhq sync` first")
    rows = fan_vault_status(path, creator_id, fan_id, media_id)
    if not rows:
        click.echo(f"no vault item{'' if media_id is None else f' {media_id}'} for {creator_id}",
                   err=True)
        sys.exit(1)
    table = Table(title=f"fan {fan_id} × vault of {creator_id}")
    for column in ("media_id", "media_type", "status", "last_offered_at", "bought_at"):
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in
                        ("media_id", "media_type", "status", "last_offered_at", "bought_at")))
    Console().print(table)
