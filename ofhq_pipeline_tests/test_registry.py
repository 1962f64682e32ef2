"""The registry is the one list of tables: every SQL model has its file and every model file its
entry, every table its dictionary entry, and the order models are built in respects inputs."""

from __future__ import annotations

import pytest

from ofhq_pipeline import registry
from ofhq_pipeline.dictionary import TABLES
from ofhq_pipeline.settings import SQL_DIR

TABLE_LAYERS = ("raw", "staging", "intermediate", "marts")


def test_every_sql_model_has_its_file_and_every_model_file_its_entry():
    files = {str(p.relative_to(SQL_DIR).with_suffix("")) for layer in TABLE_LAYERS
             for p in (SQL_DIR / layer).glob("*.sql")}
    # A Python step may run a table's query too (the lifecycle log, the agency roll-up).
    assert {m.key for m in registry.MODELS if m.is_sql} <= files <= set(registry.BY_KEY)


def test_every_table_is_in_the_dictionary_and_nothing_else_is():
    tables = {m.key for m in registry.MODELS if m.layer in TABLE_LAYERS}
    assert tables == set(TABLES)


def test_inputs_are_models_and_come_first():
    for m in registry.MODELS:
        assert all(k in registry.BY_KEY for k in m.inputs), m.key
    order = [m.key for m in registry.in_build_order(registry.BY_KEY)]
    for m in registry.MODELS:
        assert all(order.index(k) < order.index(m.key) for k in m.inputs), m.key


def test_publishing_follows_every_mart_a_run_writes():
    stats = registry.model("marts/system_stats")
    assert "marts/fan_profile" in stats.inputs and "marts/fan_ltv" in stats.inputs
    assert not {"marts/system_stats", "marts/fan_agency"} & set(stats.inputs)


def test_an_unknown_key_is_named():
    with pytest.raises(KeyError, match="marts/nope"):
        registry.model("marts/nope")
