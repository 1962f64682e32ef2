"""The classifier's tables from its state: personality, objections, preferences, empty creators."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from ofhq_pipeline.intelligence.engine import classify_creator
from ofhq_pipeline.intelligence.results import FAILED, OK, Classification
from ofhq_pipeline.intelligence.rules import RulesClassifier
from ofhq_pipeline.intelligence.schema import ClassifierOutput
from ofhq_pipeline.intelligence.store import (
    MART_TABLES,
    PERSONALITY,
    classification_rows,
    personality,
    preferences,
)
from ofhq_pipeline_tests.intelligence.answers import answer
from ofhq_pipeline_tests.intelligence.conftest import AS_OF, T0


def output(objections: list[tuple[str, str]], fan_type: str = "romantic",
           custom: int = 0) -> ClassifierOutput:
    return ClassifierOutput.model_validate(answer(
        objections=[{"type": t, "text": x} for t, x in objections], fan_type=fan_type,
        intents={"wants_custom": (custom, [])}))


def result(fan_id: int, hours: int, out: ClassifierOutput | None, model: str = "gpt-4o-mini"):
    return Classification(fan_id=fan_id, window_hash=f"h{hours}", model=model, method="live",
                          status=OK if out else FAILED, classified_at=T0 + timedelta(hours=hours),
                          output=out, error=None if out else "boom")


def test_personality_is_the_latest_success_with_objection_history():
    history = classification_rows("acct_x", [
        result(1, 1, output([("price", "too much"), ("trust", "is it you?")])),
        result(1, 2, output([("price", "can't afford it")], fan_type="lonely")),
        result(1, 3, output([("timing", "after payday")], fan_type="dominant", custom=35)),
        result(1, 4, None),  # a later failure does not replace the latest success
        result(2, 1, output([])),
    ])
    rows = {r["fan_id"]: r for r in personality(history).iter_rows(named=True)}
    assert rows[1]["fan_type"] == "dominant" and rows[1]["classified_at"] == T0 + timedelta(hours=3)
    assert (rows[1]["last_objection"], rows[1]["last_objection_text"]) == ("timing", "after payday")
    assert rows[1]["top_objection"] == "price"  # twice, against once each
    assert rows[2]["last_objection"] is None and rows[2]["top_objection"] is None
    assert rows[1]["intent_wants_custom"] == 35 and rows[1]["classifier_model"] == "gpt-4o-mini"
    prefs = preferences(personality(history))
    assert prefs.columns[:2] == ["creator_id", "fan_id"] and prefs.height == 2
    assert "content_format_preference" in prefs.columns and "fan_type" not in prefs.columns


def test_ties_in_objection_counts_go_to_the_most_recent():
    history = classification_rows("acct_x", [
        result(1, 1, output([("price", "a")])), result(1, 2, output([("content", "b")])),
    ])
    assert personality(history)["top_objection"].to_list() == ["content"]


def test_a_creator_without_chats_gets_empty_typed_marts(lake):
    report = classify_creator(lake, "acct_empty", RulesClassifier(), as_of=AS_OF, run_id="r1")
    assert (report.fans, report.classified) == (0, 0)
    for table in MART_TABLES:
        frame = pl.read_parquet(lake.mart_path(table, "acct_empty", "r1"))
        assert frame.height == 0, table
    persona = pl.read_parquet(lake.mart_path("fan_personality", "acct_empty", "r1"))
    assert dict(persona.schema) == PERSONALITY
