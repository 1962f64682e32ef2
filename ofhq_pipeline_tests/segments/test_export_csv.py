"""The CSV export is safe to open in a spreadsheet: a fan's username or name that starts like a
formula is neutralised; numbers stay numbers."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import polars as pl
import pytest
import yaml
from click.testing import CliRunner

from ofhq_pipeline.segments.commands import segments as segments_cli
from ofhq_pipeline.segments.csv_cells import safe_cell
from ofhq_pipeline.segments.members import EXPORT_COLUMNS, members_path
from ofhq_pipeline.segments.spec import find_segment
from ofhq_pipeline_tests.builders import CREATOR, make_lake

SEGMENT = "hostile_names"
HOSTILE = [
    # (username, name): what a fan may call himself
    ('=HYPERLINK("http://x")', "@SUM(1)"),
    ("+cmd|' /C calc'!A0", "-2+3"),
    ("\t=1+1", "\r=1+1"),
    ("plain_user", "Mark"),
    ("x\r=HYPERLINK(\"http://x\")", "y\n@SUM(1)"),  # a new row must not start inside a name
]


@pytest.mark.parametrize(("value", "expected"), [
    ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
    ("@SUM(1)", "'@SUM(1)"),
    ("+1", "'+1"),
    ("-1.00", "'-1.00"),
    ("\tx", "'\tx"),
    ("\rx", "'\rx"),
    ("Mark", "Mark"),
    ("a=b", "a=b"),
    ("", ""),
    (-500, -500),
    (-0.25, -0.25),
    (None, None),
])
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A lake holding one materialized segment whose members have hostile names."""
    lake = make_lake(tmp_path / "home")
    monkeypatch.setenv("OFHQ_HOME", str(lake.paths.home))
    segments_file = tmp_path / "segments.yaml"
    segments_file.write_text(yaml.safe_dump({"segments": [{
        "name": SEGMENT, "description": "fans with hostile names",
        "where": {"field": "stage", "op": "eq", "value": "new"},
    }]}))
    segment = find_segment(SEGMENT, segments_file)
    n = len(HOSTILE)
    members = pl.DataFrame({
        "creator_id": [CREATOR] * n, "fan_id": list(range(1, n + 1)),
        "username": [u for u, _ in HOSTILE], "name": [m for _, m in HOSTILE],
        "recommended_media_id": [None] * n, "recommended_media_type": [None] * n,
        "suggested_price_cents": [1250] * n, "recommendation_reason": [None] * n,
        "stage": ["new"] * n, "temperature": ["warm"] * n, "spend_tier": ["none"] * n,
        "price_range": ["low"] * n, "buyer_type": ["free"] * n,
        "lifetime_spend_cents": [-500, 0, 1999, 42, 7],  # negative: a refund-heavy fan
        "probability_alive": [0.5] * n, "expected_spend_90d_cents": [-1.5, 0.0, 2.5, 3.0, 1.0],
        "as_of": [datetime(2026, 3, 1, tzinfo=UTC)] * n,
        "segment": [SEGMENT] * n, "definition_hash": [segment.definition_hash] * n,
    }, schema_overrides={"recommended_media_id": pl.Int64, "recommended_media_type": pl.String,
                         "recommendation_reason": pl.String})
    path = members_path(lake, SEGMENT, CREATOR)
    path.parent.mkdir(parents=True, exist_ok=True)
    members.write_parquet(path)
    return segments_file


def test_export_neutralises_formula_names_and_keeps_numbers(home):
    result = CliRunner().invoke(segments_cli, ["export", SEGMENT, "--format", "csv",
                                               "--file", str(home)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    assert [(r["username"], r["name"]) for r in rows] == [
        ('\'=HYPERLINK("http://x")', "'@SUM(1)"),
        ("'+cmd|' /C calc'!A0", "'-2+3"),
        ("'\t=1+1", "'\r=1+1"),
        ("plain_user", "Mark"),
        ('x\r=HYPERLINK("http://x")', "y\n@SUM(1)"),
    ]
    # One row a fan (a line break inside a name stays in its quoted cell), no cell starting a
    # formula, and negative numbers still plain numbers.
    assert len(rows) == len(HOSTILE)
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "@", "\t", "\r"))
    assert [r["lifetime_spend_cents"] for r in rows] == ["-500", "0", "1999", "42", "7"]
    assert [r["expected_spend_90d_cents"] for r in rows] == ["-1.5", "0.0", "2.5", "3.0", "1.0"]
    assert {r["suggested_price"] for r in rows} == {"12.50"}


def test_json_export_keeps_the_names_as_they_are(home):
    result = CliRunner().invoke(segments_cli, ["export", SEGMENT, "--format", "json",
                                               "--file", str(home)])
    assert result.exit_code == 0, result.output
    members = json.loads(result.stdout)["members"]
    assert [(m["username"], m["name"]) for m in members] == HOSTILE
