"""Segments: compiled safely from YAML, equal to direct queries over fan_profile, exported."""

from __future__ import annotations

import csv
import io
import json

import dagster as dg
import duckdb
import pytest
import yaml
from click.testing import CliRunner

from ofhq_pipeline.defs.segments.assets import build_segment_assets
from ofhq_pipeline.segments.commands import segments as segments_cli
from ofhq_pipeline.segments.fields import FIELDS
from ofhq_pipeline.segments.members import export_segment
from ofhq_pipeline.segments.spec import (
    DEFAULT_PATH,
    SegmentError,
    load_segments,
    parse_segments,
)


def one(where, name: str = "s1") -> None:
    parse_segments({"segments": [{"name": name, "where": where}]})


@pytest.mark.parametrize(("where", "message"), [
    ({"field": "stagee", "op": "eq", "value": "new"},
     "segment 's1', where: unknown field 'stagee'; allowed fields: "),
    ([{"field": "stage", "op": "eq", "value": "new"},
      {"field": "spend_tier", "op": "gte", "value": "gold"}],
     "segment 's1', where[1]: field 'spend_tier' (text) has no operator 'gte'"),
    ({"field": "stage", "op": "in", "value": ["new", "dormant"]},
     "segment 's1', where: field 'stage' has no value 'dormant'; allowed: new, warming"),
    ({"any": [{"field": "intent_ready_to_buy", "op": "gte", "value": "60"}]},
     "segment 's1', where.any[0]: field 'intent_ready_to_buy' needs a number, got '60'"),
    ({"field": "stage; DROP TABLE x", "op": "eq", "value": "new"}, "unknown field"),
    ({"field": "stage", "op": "eq", "value": "new", "sql": "1=1"}, "unknown keys ['sql']"),
    ({"not": {"field": "chargeback_risk", "op": "eq", "value": "yes"}},
     "where.not: field 'chargeback_risk' needs true or false"),
    ({"has_not_bought": "7001"}, "a vault media id is a positive integer"),
    ({"asset_status": {"media_id": 7001, "in": ["owned"]}}, "asset_status 'in' takes a list"),
    ({"field": "last_activity_at", "op": "within_days", "value": -1}, "a number of days >= 0"),
    ({"field": "lifetime_spend_cents", "op": "between", "value": [10, 1]}, "is empty"),
    ({"all": []}, "'all' needs a non-empty list"),
    ({"maybe": []}, "unknown condition 'maybe'"),
])
def test_bad_definitions_name_the_segment_and_the_field(where, message):
    with pytest.raises(SegmentError) as info:
        one(where)
    assert message in str(info.value)


def test_bad_names_and_duplicates():
    with pytest.raises(SegmentError, match="name 'Whales!' must match"):
        one({"field": "stage", "op": "eq", "value": "new"}, name="Whales!")
    with pytest.raises(SegmentError, match="segment 'a': defined twice"):
        parse_segments({"segments": [{"name": "a", "where": []} | {"where": {"has_bought": 1}},
                                     {"name": "a", "where": {"has_bought": 2}}]})


def test_values_are_bound_never_spliced():
    [segment] = parse_segments({"segments": [{"name": "s", "where": [
        {"field": "username", "op": "eq", "value": "x' OR '1'='1"},
        {"field": "emotional_drivers", "op": "contains", "value": "status"},
    ]}]})
    assert "OR '1'" not in segment.condition
    assert segment.params == ("x' OR '1'='1", "status")


def test_the_shipped_yaml_compiles_and_loading_fails_loudly(tmp_path):
    assert {s.name for s in load_segments(DEFAULT_PATH)} >= {"whales_cooling_off", "ready_to_buy"}
    bad = tmp_path / "segments.yaml"
    bad.write_text(yaml.safe_dump({"segments": [
        {"name": "oops", "where": [{"field": "temprature", "op": "eq", "value": "HOT"}]}]}))
    with pytest.raises(SegmentError, match="segment 'oops', where\\[0\\]: unknown field "
                                           "'temprature'"):
        build_segment_assets(bad)
    assets = build_segment_assets(DEFAULT_PATH)
    keys = {a.key for a in assets}
    assert dg.AssetKey(["segments", "whales_cooling_off"]) in keys
    assert dg.AssetKey(["marts", "segment_members"]) in keys
    assert all(f in FIELDS for s in load_segments(DEFAULT_PATH) for f in s.fields)


DIRECT = {
    "cooling_whales": "spend_tier IN ('silver', 'gold', 'platinum') "
                      "AND stage IN ('cooling_off', 'at_risk', 'churned')",
    "hot_non_spenders": "buyer_type = 'non_spender' AND temperature IN ('HOT', 'WARM', 'COOLING') "
                        "AND time_waster_score < 70",
    "intent_or_recent": "intent_ready_to_buy >= 60 "
                        "OR last_purchase_at >= as_of - INTERVAL 14 DAY "
                        "OR (list_has_any(active_hours, [21, 22]) "
                        "    AND NOT coalesce(subscription_status = 'active', false))",
    "likely_gone": "fan_id IN (SELECT fan_id FROM ltv WHERE churn_probability >= 0.3) "
                   "AND lifetime_spend_cents BETWEEN 2000 AND 100000000",
    "not_bought_bestseller": "ppv_bought_count >= 1 AND fan_id NOT IN (SELECT fan_id FROM status "
                             "WHERE media_id = {media} AND status = 'bought')",
}


def test_each_segment_equals_a_direct_query_over_fan_profile(graph):
    [item] = [s for s in load_segments(graph.segments_path) if s.name == "not_bought_bestseller"]
    media = item.params[-1]
    con = duckdb.connect()
    try:
        con.execute(f"CREATE VIEW profile AS SELECT * FROM '{graph.mart('fan_profile')}'")
        con.execute(f"CREATE VIEW ltv AS SELECT * FROM '{graph.mart('fan_ltv')}'")
        con.execute(f"CREATE VIEW status AS SELECT * FROM '{graph.mart('fan_asset_status')}'")
        for name, where in DIRECT.items():
            expected = [r[0] for r in con.execute(
                f"SELECT fan_id FROM profile WHERE {where.format(media=media)} ORDER BY 1"
            ).fetchall()]
            path = graph.lake.root / "segments" / name / f"{graph.creator_id}.parquet"
            members = [r[0] for r in con.execute(f"SELECT fan_id FROM '{path}' ORDER BY 1")
                       .fetchall()]
            assert members == expected, name
            assert graph.metadata[f"segments/{name}"]["members"] == len(expected)
        (bought,) = con.execute(
            f"SELECT count(*) FROM status WHERE media_id = {media} AND status = 'bought'"
        ).fetchone()
        sizes = {name: graph.metadata[f"segments/{name}"]["members"] for name in DIRECT}
    finally:
        con.close()
    assert bought > 0  # the item filter really removes someone
    assert all(n > 0 for n in sizes.values()), sizes
    preview = graph.metadata["segments/cooling_whales"]["preview"]
    assert "| fan_id | username | stage |" in preview
    assert graph.metadata["marts/segment_members"]["dagster/row_count"] == sum(sizes.values())


def test_export_csv_and_json_with_each_fans_recommended_item(graph, monkeypatch):
    monkeypatch.setenv("OFHQ_HOME", str(graph.lake.paths.home))
    runner = CliRunner()
    result = runner.invoke(segments_cli, ["export", "cooling_whales", "--format", "csv",
                                          "--file", str(graph.segments_path)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == graph.metadata["segments/cooling_whales"]["members"]
    con = duckdb.connect()
    try:
        top = dict(con.execute(
            f"SELECT fan_id, media_id FROM '{graph.mart('fan_recommendations')}' WHERE rank = 1"
        ).fetchall())
    finally:
        con.close()
    for row in rows:
        assert int(row["recommended_media_id"]) == top[int(row["fan_id"])]
        assert row["suggested_price"] == f"{int(row['suggested_price_cents']) / 100:.2f}"
        assert row["stage"] in ("cooling_off", "at_risk", "churned")
    out = graph.lake.paths.home / "export.json"
    result = runner.invoke(segments_cli, ["export", "cooling_whales", "--format", "json",
                                          "--file", str(graph.segments_path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["segment"] == "cooling_whales" and data["count"] == len(rows)
    first = data["members"][0]
    assert first["recommended"]["media_id"] == top[first["fan_id"]]
    assert first["recommended"]["suggested_price_cents"] >= 300
    assert first["profile"]["spend_tier"] in ("silver", "gold", "platinum")
    # Errors are clear, and the function is the same as the command.
    result = runner.invoke(segments_cli, ["export", "nope", "--file", str(graph.segments_path)])
    assert result.exit_code != 0 and "no segment 'nope'" in result.output
    export = export_segment(graph.lake, "cooling_whales", "json",
                            segments_file=graph.segments_path)
    assert json.loads(export.render("json")) == data and export.warnings == []
    with pytest.raises(SegmentError, match="has no members yet"):
        export_segment(graph.lake, "cooling_whales", creators=["acct_other"],
                       segments_file=graph.segments_path)
