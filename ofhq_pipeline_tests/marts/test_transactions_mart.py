"""marts.transactions: the staged file itself (a hard link) when as-of is at or after everything
staged; otherwise a copy filtered to as-of, with each status as it was then."""

from __future__ import annotations

import dataclasses
import json
import os

import dagster as dg
import duckdb

from ofhq_pipeline.definitions import build_definitions
from ofhq_pipeline.defs.marts.checks import UNIQUE_KEY
from ofhq_pipeline.staging import merge as merge_module
from ofhq_pipeline.staging import verdicts
from ofhq_pipeline.warehouse import publish as publishing
from ofhq_pipeline_tests.builders import (
    CREATOR,
    chargeback,
    day,
    fan,
    make_lake,
    parquet_dicts,
    txn,
    write_sync,
)

SELECTION = dg.AssetSelection.assets(["staging", "transactions"], ["marts", "transactions"])


def materialize(monkeypatch, lake, instance, as_of) -> dg.ExecuteInJobResult:
    """Materialize staging and marts transactions as of `as_of`."""
    monkeypatch.setenv("OFHQ_HOME", str(lake.paths.home))
    monkeypatch.setenv("OFHQ_AS_OF", as_of.isoformat())
    instance.add_dynamic_partitions("creators", [CREATOR])
    defs = build_definitions()
    return dg.materialize(list(defs.assets), selection=SELECTION, partition_key=CREATOR,
                          instance=instance, resources=defs.resources)


def build_transactions(monkeypatch, lake, instance, as_of) -> tuple[dict, list[dict]]:
    """The mart's metadata and rows, built as of `as_of`."""
    result = materialize(monkeypatch, lake, instance, as_of)
    (event,) = [e for e in result.get_asset_materialization_events()
                if e.asset_key == dg.AssetKey(["marts", "transactions"])]
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    return metadata, rows(lake.mart_path("transactions", CREATOR, result.run_id))


def rows(path) -> list[dict]:
    return parquet_dicts(path, order="transaction_id")


def write_three_purchases(lake) -> None:
    """t1 on day 1; t2 on day 5, charged back on day 8; t3 on day 7."""
    t2 = txn("t2", 1, 20.0, day(5))
    write_sync(lake, fetched_at=day(9), fans=[fan(1)],
               transactions=[txn("t1", 1, 10.0, day(1)), t2, txn("t3", 1, 30.0, day(7))],
               chargebacks=[chargeback("c1", t2, day(8))])


def test_the_mart_is_the_staged_file_when_as_of_is_after_everything(monkeypatch, tmp_path, instance):
    lake = make_lake(tmp_path / "home")
    write_three_purchases(lake)
    metadata, linked = build_transactions(monkeypatch, lake, instance, day(50))

    assert metadata["linked_to_staging"] is True
    run_dir = next(lake.creator_marts_dir(CREATOR).iterdir())
    assert os.path.samefile(run_dir / "transactions.parquet",
                            lake.staging_path("transactions", CREATOR))
    # The link holds what the SQL model would have written, column for column.
    out = tmp_path / "model.parquet"
    with lake.session(CREATOR, as_of=day(50)) as con:
        lake.write_model(con, "marts/transactions", out)
    assert linked == rows(out)
    assert [(r["transaction_id"], r["status"], r["is_purchase"]) for r in linked] == [
        ("t1", "succeeded", True), ("t2", "chargeback", False), ("t3", "succeeded", True)]


def test_a_run_pinned_in_the_past_sees_transactions_as_they_were(monkeypatch, tmp_path, instance):
    lake = make_lake(tmp_path / "home")
    write_three_purchases(lake)
    metadata, past = build_transactions(monkeypatch, lake, instance, day(6))

    assert metadata["linked_to_staging"] is False
    assert metadata["dagster/row_count"] == 2
    # t3 did not exist yet; t2's chargeback had not happened.
    assert [(r["transaction_id"], r["status"], r["is_purchase"], r["chargeback_at"]) for r in past] == [
        ("t1", "succeeded", True, None), ("t2", "succeeded", True, None)]
    assert not os.path.samefile(lake.mart_path("transactions", CREATOR, next(
        lake.creator_marts_dir(CREATOR).iterdir()).name), lake.staging_path("transactions", CREATOR))


def check_evaluations(monkeypatch, lake, instance, as_of) -> dict[str, dict]:
    """The metadata of marts.transactions' check evaluations in a run as of `as_of`."""
    result = materialize(monkeypatch, lake, instance, as_of)
    return {e.check_name: {"passed": e.passed, **{k: v.value for k, v in e.metadata.items()}}
            for e in result.get_asset_check_evaluations()
            if e.asset_key == dg.AssetKey(["marts", "transactions"])}


def test_a_linked_mart_matches_staging_by_identity_and_is_still_judged_on_the_rest(
        monkeypatch, tmp_path, instance):
    lake = make_lake(tmp_path / "home")
    write_three_purchases(lake)
    checks = check_evaluations(monkeypatch, lake, instance, day(50))

    assert checks["matches_staging"]["passed"]
    assert "hard link" in checks["matches_staging"]["verified_by"]
    assert "query" not in checks["matches_staging"]
    # Staging's schema check judged this very file whole, transaction ids unique.
    assert checks["unique_key"]["passed"]
    assert "schema check" in checks["unique_key"]["verified_by"]
    # The other checks still read the rows.
    assert checks["cents_non_negative"]["query"] == "sql/checks/transactions_cents_non_negative.sql"


def test_a_linked_mart_counts_its_ids_when_no_verdict_names_its_file(
        monkeypatch, tmp_path, instance):
    """A verdict of another file (staging rewritten since, or a forged verdict) proves nothing."""
    lake = make_lake(tmp_path / "home")
    write_three_purchases(lake)
    check_evaluations(monkeypatch, lake, instance, day(50))
    verdict = verdicts.verdict_path(lake, "transactions", CREATOR)
    forged = json.loads(verdict.read_text())
    forged["base"]["file"][0] += 1  # another inode
    verdict.write_text(json.dumps(forged))
    # The mart alone, on the staged file as it is.
    defs = build_definitions()
    result = dg.materialize(list(defs.assets), selection=dg.AssetSelection.assets(
        ["marts", "transactions"]), partition_key=CREATOR, instance=instance,
        resources=defs.resources)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}

    assert "verified_by" in checks["matches_staging"].metadata
    assert checks["unique_key"].passed and "verified_by" not in checks["unique_key"].metadata
    assert checks["unique_key"].metadata["query"].value == "sql/checks/transactions_unique_key.sql"


def test_a_mart_filtered_to_as_of_is_compared_with_staging_row_by_row(
        monkeypatch, tmp_path, instance):
    lake = make_lake(tmp_path / "home")
    write_three_purchases(lake)
    checks = check_evaluations(monkeypatch, lake, instance, day(6))

    assert checks["matches_staging"]["passed"]
    assert "verified_by" not in checks["matches_staging"]
    assert checks["matches_staging"]["query"] == "sql/checks/transactions_matches_staging.sql"


def marts_files(lake, run_id) -> list[str]:
    return sorted(p.name for p in (lake.creator_marts_dir(CREATOR) / run_id).glob("transactions*"))


def test_purchases_merged_since_the_staged_file_was_written_are_added_beside_it(
        monkeypatch, tmp_path, instance):
    """Ten purchases staged, then one more merged as a change: the mart is the staged file
    linked and the new purchase in a part beside it, not every transaction written again; it
    reads, checks and publishes as the whole table."""
    lake = make_lake(tmp_path / "home")
    write_sync(lake, fetched_at=day(9), fans=[fan(1)],
               transactions=[txn(f"t{i:02d}", 1, 10.0 + i, day(1 + i / 10)) for i in range(10)])
    first = materialize(monkeypatch, lake, instance, day(50))
    publishing.publish(lake, CREATOR, first.run_id)  # the analysts' file built whole
    write_sync(lake, fetched_at=day(10), transactions=[txn("t10", 1, 99.0, day(9.5))])
    result = materialize(monkeypatch, lake, instance, day(50))

    changes = lake.staging_changes_path("transactions", CREATOR)
    assert len(parquet_dicts(changes)) == 1  # merged as a change, the base as it was
    (event,) = [e for e in result.get_asset_materialization_events()
                if e.asset_key == dg.AssetKey(["marts", "transactions"])]
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert metadata["linked_to_staging"] is True
    assert (metadata["added_rows"], metadata["dagster/row_count"]) == (1, 11)
    assert marts_files(lake, result.run_id) == ["transactions.added.parquet", "transactions.parquet"]
    path = lake.mart_path("transactions", CREATOR, result.run_id)
    assert os.path.samefile(path, lake.staging_path("transactions", CREATOR))
    assert [r["transaction_id"] for r in parquet_dicts(path.with_name(
        "transactions.added.parquet"))] == ["t10"]

    # Read as one table, the mart is what the SQL model writes.
    with lake.session(CREATOR, as_of=day(50), run_id=result.run_id) as con:
        mart = con.execute("SELECT * FROM marts.transactions ORDER BY transaction_id").fetchall()
        out = tmp_path / "model.parquet"
        lake.write_model(con, "marts/transactions", out)
        assert mart == con.execute(f"SELECT * FROM read_parquet('{out}') "
                                   "ORDER BY transaction_id").fetchall()
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()
              if e.asset_key == dg.AssetKey(["marts", "transactions"])}
    assert all(check.passed for check in checks.values())
    assert "added beside it" in checks["matches_staging"].metadata["verified_by"].value
    assert "verified_by" in checks[UNIQUE_KEY].metadata  # base and changes each passed staging's

    # Published (the creator's rows of the analysts' file replaced), the file and its row
    # counts hold every transaction.
    publishing.publish(lake, CREATOR, result.run_id)
    with duckdb.connect(str(lake.paths.analysts_marts), read_only=True) as con:
        (published,) = con.execute("SELECT count(*) FROM marts.transactions").fetchone()
        (counted,) = con.execute("SELECT row_count FROM marts.system_stats "
                                 "WHERE table_name = 'transactions' AND layer = 'marts'").fetchone()
    assert published == counted == 11


def chargeback_after_ten_purchases(monkeypatch, lake, instance) -> dg.ExecuteInJobResult:
    """Ten purchases staged and their mart built; then a sync whose chargeback changes t03, a
    transaction the staged file holds, staged with the mart built again."""
    purchases = [txn(f"t{i:02d}", 1, 10.0 + i, day(1 + i / 10)) for i in range(10)]
    write_sync(lake, fetched_at=day(9), fans=[fan(1)], transactions=purchases)
    materialize(monkeypatch, lake, instance, day(50))
    write_sync(lake, fetched_at=day(10), chargebacks=[chargeback("c1", purchases[3], day(9.5))])
    return materialize(monkeypatch, lake, instance, day(50))


def built(lake, result) -> tuple[dict, list[dict]]:
    (event,) = [e for e in result.get_asset_materialization_events()
                if e.asset_key == dg.AssetKey(["marts", "transactions"])]
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    mart = parquet_dicts(f"{lake.creator_marts_dir(CREATOR) / result.run_id}/transactions*.parquet",
                         order="transaction_id")
    return metadata, mart


def test_a_change_to_a_staged_transaction_is_folded_into_the_staged_file(
        monkeypatch, tmp_path, instance):
    """A chargeback of a transaction the staged file holds is folded into that file at once
    (staging writes it again), so the mart links it, chargeback shown, and the changes only
    ever add transactions."""
    lake = make_lake(tmp_path / "home")
    result = chargeback_after_ten_purchases(monkeypatch, lake, instance)
    metadata, mart = built(lake, result)

    assert parquet_dicts(lake.staging_changes_path("transactions", CREATOR)) == []
    assert metadata["linked_to_staging"] is True and metadata["added_rows"] == 0
    assert marts_files(lake, result.run_id) == ["transactions.parquet"]
    assert [(r["transaction_id"], r["status"]) for r in mart if r["status"] != "succeeded"] == [
        ("t03", "chargeback")]
    assert len(mart) == 10


def test_changes_that_replace_a_staged_transaction_write_the_mart_whole(
        monkeypatch, tmp_path, instance):
    """Changes left replacing a transaction of the staged file (merged without folding, as an
    older merge left them): linked, that file would still show t03 succeeded. The mart is
    written whole, without a part."""
    monkeypatch.setitem(merge_module.MERGES, "transactions", dataclasses.replace(
        merge_module.MERGES["transactions"], fold_replacements=False))
    lake = make_lake(tmp_path / "home")
    result = chargeback_after_ten_purchases(monkeypatch, lake, instance)
    metadata, mart = built(lake, result)

    assert len(parquet_dicts(lake.staging_changes_path("transactions", CREATOR))) == 1
    assert metadata["linked_to_staging"] is False
    assert marts_files(lake, result.run_id) == ["transactions.parquet"]
    assert [(r["transaction_id"], r["status"]) for r in mart if r["status"] != "succeeded"] == [
        ("t03", "chargeback")]
    assert len(mart) == 10


def test_a_merged_purchase_after_as_of_keeps_the_mart_from_linking(monkeypatch, tmp_path, instance):
    """The staged file lies before as-of, a purchase merged beside it after: a run pinned between
    writes the mart filtered to as-of, without that purchase."""
    lake = make_lake(tmp_path / "home")
    write_sync(lake, fetched_at=day(9), fans=[fan(1)],
               transactions=[txn(f"t{i:02d}", 1, 10.0 + i, day(1 + i / 10)) for i in range(10)])
    materialize(monkeypatch, lake, instance, day(50))
    write_sync(lake, fetched_at=day(31), transactions=[txn("t10", 1, 99.0, day(30))])
    metadata, mart = build_transactions(monkeypatch, lake, instance, day(20))

    assert len(parquet_dicts(lake.staging_changes_path("transactions", CREATOR))) == 1
    assert metadata["linked_to_staging"] is False
    assert [r["transaction_id"] for r in mart] == [f"t{i:02d}" for i in range(10)]
