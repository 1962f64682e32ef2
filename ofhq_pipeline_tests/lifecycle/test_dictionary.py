"""The data dictionary is the one source of column meanings: complete, true to the SQL, and the
generated docs/data-dictionary.md is never stale."""

from __future__ import annotations

import os
import re

import duckdb
import pytest

from ofhq_pipeline.lifecycle.agency import fan_agency_path, write_fan_agency
from ofhq_pipeline.lifecycle.dictionary import (
    DOCS_PATH,
    FAN_PROFILE,
    INTENTS,
    INTERMEDIATE_TABLES,
    TABLES,
    column_descriptions,
    render_markdown,
)
from ofhq_pipeline.lifecycle.models import log_path
from ofhq_pipeline.settings import PROJECT_ROOT
from ofhq_pipeline_tests.builders import CREATOR, day, fan, make_lake, message, txn, write_sync
from ofhq_pipeline_tests.lifecycle.harness import build

SPEC = PROJECT_ROOT.parent / "shared" / "spec" / "fan-profile.md"


def test_docs_are_generated_from_the_dictionary():
    assert DOCS_PATH.read_text() == render_markdown(), (
        "docs/data-dictionary.md is stale: run `.venv/bin/python -m "
        "ofhq_pipeline.lifecycle.dictionary`")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    lake = make_lake(tmp_path_factory.mktemp("home"))
    m = message(1, 1, day(2), from_fan=True)
    write_sync(lake, fetched_at=day(5), fans=[fan(1)], transactions=[txn("t1", 1, 10, day(1))],
               messages=[(1, m)])
    build(lake, day(10))
    lake.commit_marts(CREATOR, "run1")
    write_fan_agency(lake)
    return lake


def schema(path) -> list[tuple[str, str]]:
    con = duckdb.connect()
    try:
        return [(r[0], r[1]) for r in con.execute(
            f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()]
    finally:
        con.close()


def test_every_table_is_documented_in_order_with_its_real_types(built):
    paths = {
        "fan_profile": built.mart_path("fan_profile", CREATOR, "run1"),
        "fan_lifecycle_events": log_path(built, CREATOR),
        "fan_agency": fan_agency_path(built),
    }
    for name, path in paths.items():
        assert schema(path) == [(c.name, c.type) for c in TABLES[name].columns], name
    assert all(c.description.strip() for t in TABLES.values() for c in t.columns)


def test_intermediate_columns_are_described(built):
    for table in INTERMEDIATE_TABLES:
        path = built.staging_path(table, CREATOR, layer="intermediate")
        described = column_descriptions(table)
        assert [n for n, _ in schema(path) if n not in described] == [], table
    assert column_descriptions("creators") == {}  # not documented: no borrowed meanings


def test_fan_profile_has_every_field_of_the_specification():
    if not SPEC.exists():  # the specification stands beside the project, as CI has it
        if os.environ.get("CI") == "true":
            pytest.fail(f"the fan profile specification is missing: {SPEC}")
        pytest.skip(f"the fan profile specification is not beside the project ({SPEC})")
    text = SPEC.read_text()
    names = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    personality = text.split("## Personality")[1]
    names |= {n for n in re.findall(r"`([a-z_]+)`", personality) if not n.startswith("fan_")}
    names |= {f"intent_{s}" for s in INTENTS} | {"stage", "stage_updated_at", "last_objection",
                                                 "top_objection"}
    columns = {c.name for c in FAN_PROFILE.columns}
    assert names - columns == set()
    assert len(columns) >= 55
