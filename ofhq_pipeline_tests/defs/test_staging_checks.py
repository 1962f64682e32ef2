"""A staged table that breaks its pandera schema stops the run before any mart is built."""

from __future__ import annotations

import dagster as dg

from ofhq_pipeline.definitions import build_definitions
from ofhq_pipeline_tests.builders import CREATOR, day, fan, make_lake, txn, write_sync


def test_blocking_check_keeps_bad_staging_out_of_the_marts(monkeypatch, tmp_path, instance):
    monkeypatch.setenv("OFHQ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OFHQ_AS_OF", day(50).isoformat())
    lake = make_lake(tmp_path / "home")
    bad = txn("t2", 2, 10.0, day(2))
    del bad["user"]  # no fan: the staged row has a null fan_id
    write_sync(lake, fetched_at=day(30), fans=[fan(1)], transactions=[txn("t1", 1, 5.0, day(1)), bad])
    instance.add_dynamic_partitions("creators", [CREATOR])

    defs = build_definitions()
    selection = dg.AssetSelection.groups("staging", "fan_aggregates", "marts")
    result = dg.materialize(
        list(defs.assets),
        selection=selection,
        partition_key=CREATOR,
        instance=instance,
        resources=defs.resources,
        raise_on_error=False,
    )
    assert not result.success
    evaluations = {
        e.asset_key.to_user_string(): e.passed for e in result.get_asset_check_evaluations()
    }
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "staging/transactions" in materialized
    assert "marts/transactions" not in materialized
    assert "published/analysts_marts" not in materialized
    assert not lake.paths.analysts_marts.exists()
    assert evaluations["staging/transactions"] is False
    assert evaluations["staging/fans"] is True
