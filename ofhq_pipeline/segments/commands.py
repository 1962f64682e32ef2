"""`ofhq segments list` and `ofhq segments export NAME --format csv|json`: the members of a
segment (as last materialized, per creator) for a mass message, each with the item to send him
at his suggested price. `export_segment` is the same as a function. In CSV, a text cell that a
spreadsheet would run as a formula (a fan's username or name starting with "=", "+", "-", "@")
is written with a leading single quote.

The cli adds it with `main.add_command(segments)`.
"""

from __future__ import annotations

from pathlib import Path

import click

from ofhq_pipeline.lake import Lake
from ofhq_pipeline.segments.members import FORMATS, export_segment
from ofhq_pipeline.segments.spec import SegmentError, load_segments, segments_path
from ofhq_pipeline.settings import Paths


@click.group()
def segments() -> None:
    """Audience segments defined in segments.yaml (OFHQ_SEGMENTS_PATH)."""


@segments.command("list")
@click.option("--file", "file", type=click.Path(path_type=Path), default=None,
              help="Segments YAML (default: OFHQ_SEGMENTS_PATH, else ./segments.yaml).")
def list_command(file: Path | None) -> None:
    """The segments and what each filters on."""
    try:
        defined = load_segments(file)
    except SegmentError as exc:
        raise click.ClickException(str(exc)) from None
    for segment in defined:
        click.echo(f"{segment.name}\t{', '.join(segment.fields) or 'vault items'}\t"
                   f"{segment.description}")
    if not defined:
        click.echo(f"no segments in {segments_path(file)}", err=True)


@segments.command("export")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True)
@click.option("--creator", "creators", multiple=True, help="ACCOUNT_ID (repeatable); all by default.")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None,
              help="Write to this file instead of standard output.")
@click.option("--file", "file", type=click.Path(path_type=Path), default=None,
              help="Segments YAML (default: OFHQ_SEGMENTS_PATH, else ./segments.yaml).")
def export_command(name: str, fmt: str, creators: tuple[str, ...], output: Path | None,
                   file: Path | None) -> None:
    """Export the members of segment NAME with each fan's recommended item and price."""
    try:
        export = export_segment(Lake(Paths.from_env()), name, fmt, creators=list(creators) or None,
                                segments_file=file)
        text = export.render(fmt)
    except SegmentError as exc:
        raise click.ClickException(str(exc)) from None
    for warning in export.warnings:
        click.echo(f"warning: {warning}", err=True)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"{len(export.rows)} members of {name} written to {output}", err=True)
