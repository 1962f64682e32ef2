"""The data dictionary is the one source of column meanings: complete, well formed, true to what
the models write, and the generated docs/data-dictionary.md is never stale."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter

import dagster as dg
import pytest

from ofhq_pipeline.dictionary import (
    DOCS_PATH,
    FAN_PROFILE,
    LAYER_ORDER,
    TABLES,
    column_descriptions,
    describe,
    render_markdown,
    table,
    table_schema,
)
from ofhq_pipeline.dictionary.model import Column, DictionaryError, load_tables


def test_docs_are_generated_from_the_dictionary():
    assert DOCS_PATH.read_text() == render_markdown(), (
        "docs/data-dictionary.md is stale: run `.venv/bin/python -m ofhq_pipeline.dictionary`")


@pytest.mark.parametrize("key", sorted(TABLES))
def test_every_table_is_fully_described(key):
    t = TABLES[key]
    assert t.grain.strip() and t.description.strip(), f"{key}: no grain or no description"
    assert t.layer in ("marts", *LAYER_ORDER) and key == f"{t.layer}/{t.name}", key
    blank = [c.name for c in t.columns if not c.description.strip()]
    assert blank == [], f"{key}: columns without a description: {blank}"
    untyped = [c.name for c in t.columns if not c.type.strip()]
    assert untyped == [], f"{key}: columns without a type: {untyped}"
    twice = sorted(n for n, k in Counter(c.name for c in t.columns).items() if k > 1)
    assert twice == [], f"{key}: duplicate columns: {twice}"
    assert all(s.title.strip() and s.columns for s in t.sections), f"{key}: an empty section"
    unknown = set(t.unique_key) - {c.name for c in t.columns}
    assert unknown == set(), f"{key}: unique key names columns it does not have: {unknown}"


def test_the_docs_list_the_analysts_tables_before_the_pipeline_layers():
    text = render_markdown()
    analysts, layers = text.index("## Analysts' tables"), text.index("## Pipeline layers")
    for key, t in TABLES.items():
        at = text.index(f"### `{t.layer}.{t.name}`")
        assert (analysts < at < layers) == (t.layer == "marts"), key
        assert t.columns[-1].name in text[at:], key


def test_the_dagster_schema_carries_descriptions_and_key_constraints():
    schema = table_schema("marts/fan_profile")
    assert [c.name for c in schema.columns] == [c.name for c in FAN_PROFILE.columns]
    by_name = {c.name: c for c in schema.columns}
    assert by_name["lifetime_spend_cents"].description == \
        FAN_PROFILE.column("lifetime_spend_cents").description
    # A composite key: never null, but not unique column by column.
    assert by_name["fan_id"].constraints == dg.TableColumnConstraints(nullable=False, unique=False)
    assert by_name["username"].constraints.nullable
    single = {c.name: c for c in table_schema("marts/fan_agency").columns}["fan_id"]
    assert single.constraints == dg.TableColumnConstraints(nullable=False, unique=True)
    with pytest.raises(KeyError, match="not in the data dictionary"):
        table("marts/no_such_table")


def test_describe_attaches_the_dictionary_to_a_written_schema():
    written = dg.TableSchema(columns=[
        dg.TableColumn("creator_id", "VARCHAR"),
        dg.TableColumn("stage", "VARCHAR"),
        dg.TableColumn("a_new_column", "BIGINT", description="its own"),
    ])
    described = {c.name: c for c in describe(written, "intermediate/fan_stage").columns}
    assert described["stage"].description == table("intermediate/fan_stage").column("stage").description
    assert described["creator_id"].constraints.nullable is False
    assert described["a_new_column"].description == "its own"
    # A key the dictionary does not hold (a segment's members) borrows no meanings.
    assert column_descriptions("segments/ready_to_buy") == {}
    assert describe(written, "segments/ready_to_buy").columns[1].description is None


def test_the_dictionary_loads_without_dagster():
    code = ("import sys, ofhq_pipeline.dictionary as d; d.render_markdown(); "
            "sys.exit('dagster' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def write_dictionary(folder, tables: str) -> None:
    (folder / "common.yaml").write_text("- creator_id VARCHAR: The creator account.\n")
    (folder / "one.yaml").write_text(tables)


def test_a_column_like_another_takes_its_meaning_and_may_keep_its_own_type(tmp_path):
    write_dictionary(tmp_path, """
- key: marts/a
  grain: one row per fan
  description: A.
  sections:
  - section: S
    columns:
    - creator_id: {like: common}
    - spend BIGINT: What he spent.
- key: marts/b
  grain: one row per fan
  description: B.
  sections:
  - section: S
    columns:
    - spend DOUBLE: {like: marts/a}
""")
    tables = load_tables(tmp_path, ("one",))
    assert tables["marts/a"].column("creator_id") == Column("creator_id", "VARCHAR",
                                                            "The creator account.")
    assert tables["marts/b"].column("spend") == Column("spend", "DOUBLE", "What he spent.")


@pytest.mark.parametrize(("column", "message"), [
    ("- spend: {like: marts/a}", "marts/b (S): spend is like marts/a, which has no such column"),
    ("- spend: What he spent.", "marts/b (S): column 'spend' needs `name TYPE: meaning`"),
])
def test_a_broken_column_is_named_with_its_table(tmp_path, column, message):
    write_dictionary(tmp_path, f"""
- key: marts/a
  grain: g
  description: d
  sections: [{{section: S, columns: [{{creator_id: {{like: common}}}}]}}]
- key: marts/b
  grain: g
  description: d
  sections:
  - section: S
    columns:
    {column}
""")
    with pytest.raises(DictionaryError, match=re.escape(message)):
        load_tables(tmp_path, ("one",))
