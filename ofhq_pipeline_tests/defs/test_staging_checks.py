"""A staged table that breaks its pandera schema stops the run before any mart is built; a raw row
whose values do not cast is set aside with a warning and stops nothing."""

from __future__ import annotations

import dagster as dg
import pytest

from ofhq_pipeline.definitions import build_definitions
from ofhq_pipeline.defs.lifecycle.jobs import stage_decay_job
from ofhq_pipeline.staging import verdicts
from ofhq_pipeline_tests.builders import CREATOR, day, fan, make_lake, txn, write_sync

SELECTION = stage_decay_job.selection  # staging → marts → published, no API


def materialize(instance) -> dg.ExecuteInJobResult:
    instance.add_dynamic_partitions("creators", [CREATOR])
    defs = build_definitions()
    return dg.materialize(list(defs.assets), selection=SELECTION, partition_key=CREATOR,
                          instance=instance, resources=defs.resources, raise_on_error=False)


def evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.to_user_string(), e.check_name): e
            for e in result.get_asset_check_evaluations()}


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_blocking_check_keeps_bad_staging_out_of_the_marts(monkeypatch, tmp_path, instance):
    monkeypatch.setenv("OFHQ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OFHQ_AS_OF", day(50).isoformat())
    lake = make_lake(tmp_path / "home")
    # Every value casts, but `paused` is no subscription status the contract knows.
    write_sync(lake, fetched_at=day(30), fans=[fan(1), fan(2, status="paused")],
               transactions=[txn("t1", 1, 5.0, day(1))])

    result = materialize(instance)

    assert not result.success
    checks = evaluations(result)
    assert "staging/fans" in materialized(result)
    assert checks["staging/fans", "matches_schema"].passed is False
    assert checks["staging/transactions", "matches_schema"].passed is True
    assert "marts/fan_profile" not in materialized(result)
    assert "published/analysts_marts" not in materialized(result)
    assert not lake.paths.analysts_marts.exists()



@pytest.mark.parametrize("verdict", ["kept", "lost"])
def test_a_failed_table_stays_failed_when_the_next_run_stages_nothing_new(
        monkeypatch, tmp_path, instance, verdict):
    """Its verdict stands until a run stages it again (or, lost, the table is judged whole
    again): the marts never read the bad table."""
    monkeypatch.setenv("OFHQ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OFHQ_AS_OF", day(50).isoformat())
    lake = make_lake(tmp_path / "home")
    write_sync(lake, fetched_at=day(30), fans=[fan(1), fan(2, status="paused")],
               transactions=[txn("t1", 1, 5.0, day(1))])
    assert not materialize(instance).success
    if verdict == "lost":
        verdicts.verdict_path(lake, "fans", CREATOR).unlink()

    again = materialize(instance)  # nothing new in raw

    assert not again.success
    checks = evaluations(again)
    assert checks["staging/fans", "matches_schema"].passed is False
    assert checks["staging/transactions", "matches_schema"].passed is True
    assert "marts/fan_profile" not in materialized(again)
    assert not lake.paths.analysts_marts.exists()


def test_good_new_rows_merged_onto_a_failed_table_do_not_make_it_pass(
        monkeypatch, tmp_path, instance):
    """A merge judges what it wrote; the base it applies to still failed."""
    monkeypatch.setenv("OFHQ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OFHQ_AS_OF", day(50).isoformat())
    lake = make_lake(tmp_path / "home")
    # Enough fans that one more is merged as a change, not folded into the base.
    write_sync(lake, fetched_at=day(30), fans=[fan(n) for n in range(1, 20)]
               + [fan(20, status="paused")], transactions=[txn("t1", 1, 5.0, day(1))])
    assert not materialize(instance).success
    write_sync(lake, fetched_at=day(31), fans=[fan(21)], transactions=[])

    again = materialize(instance)

    checks = evaluations(again)
    fans = checks["staging/fans", "matches_schema"]
    assert fans.passed is False
    assert "base they apply to failed" in fans.metadata["validated"].value
    assert "marts/fan_profile" not in materialized(again)

def test_a_row_that_does_not_cast_warns_and_blocks_nothing(monkeypatch, tmp_path, instance):
    monkeypatch.setenv("OFHQ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OFHQ_AS_OF", day(50).isoformat())
    lake = make_lake(tmp_path / "home")
    no_fan = txn("t2", 2, 10.0, day(2))
    del no_fan["user"]
    write_sync(lake, fetched_at=day(30), fans=[fan(1)],
               transactions=[txn("t1", 1, 5.0, day(1)), no_fan,
                             {**txn("t3", 1, 7.0, day(3)), "amount": "abc"}])

    result = materialize(instance)

    assert result.success
    checks = evaluations(result)
    assert all(e.passed for (_, name), e in checks.items() if name == "matches_schema")
    warning = checks["staging/cast_rejects", "no_cast_rejects"]
    assert warning.passed is False
    assert warning.severity == dg.AssetCheckSeverity.WARN
    assert warning.metadata["rejected_rows"].value == 2
    assert {"marts/transactions", "marts/fan_profile", "published/analysts_marts"} <= \
        materialized(result)


def test_nothing_new_stages_nothing_and_builds_no_mart(monkeypatch, tmp_path, instance):
    monkeypatch.setenv("OFHQ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OFHQ_AS_OF", day(50).isoformat())
    lake = make_lake(tmp_path / "home")
    write_sync(lake, fetched_at=day(30), fans=[fan(1)], transactions=[txn("t1", 1, 5.0, day(1))])
    first = materialize(instance)
    assert first.success
    assert {"staging/fans", "marts/fan_profile", "published/analysts_marts"} <= materialized(first)

    again = materialize(instance)  # no batch landed since

    assert again.success
    assert materialized(again) == set()
    skipped = {e.step_key for e in again.all_events if e.event_type_value == "STEP_SKIPPED"}
    assert skipped  # every step after staging was skipped, none failed
    # A new purchase is staged and reaches the marts.
    write_sync(lake, fetched_at=day(31), transactions=[txn("t2", 1, 7.0, day(31))])
    third = materialize(instance)
    assert {"staging/transactions", "marts/fan_profile"} <= materialized(third)
    staged = {e.asset_key.to_user_string(): e.materialization.metadata
              for e in third.get_asset_materialization_events()}
    assert staged["staging/transactions"]["staging_mode"].value == "merged"
    assert staged["staging/transactions"]["recomputed_entities"].value == 1
