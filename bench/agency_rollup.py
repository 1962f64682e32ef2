"""Publishing's agency rollup (`marts.fan_agency`) at agency scale: 200 creators' fan profiles,
1M people of whom a fifth follow two creators, rolled up whole and then after one creator's new
profile, as a publish after his run does it; then that creator's whole publish (his marts
committed, the rollup, the analysts' file and the catalog), catching up by his people and, for
comparison, with the agency rolled up and replaced whole. The profiles hold the columns the
rollup reads. Beside them each creator holds a year of raw months and his staged tables (small
files: what counts is how many), so that the publish meets the lake's files as an agency's does;
then `system_stats`' row counts of every creator's files against those of one creator's."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import duckdb

CREATORS = int(os.environ.get("BENCH_AGENCY_CREATORS", "200"))
PEOPLE = int(os.environ.get("BENCH_AGENCY_PEOPLE", "1000000"))
MONTHS = int(os.environ.get("BENCH_AGENCY_MONTHS", "12"))

PROFILE = """
SELECT
    '{creator}' AS creator_id,
    fan_id,
    'fan_' || fan_id AS username,
    CASE WHEN fan_id % 7 = 0 THEN 'expired' ELSE 'active' END AS subscription_status,
    TIMESTAMPTZ '2026-11-01' + to_minutes(fan_id % 40000) AS last_activity_at,
    (fan_id * 37 + {spend_shift}) % 250000 AS lifetime_spend_cents,
    ((fan_id * 37 + {spend_shift}) % 250000) * 4 // 5 AS lifetime_net_cents,
    fan_id % 40 AS purchase_count,
    ['active_buyer', 'warming', 'new', 'at_risk', 'churned'][fan_id % 5 + 1] AS stage,
    TIMESTAMPTZ '2025-01-01' + to_minutes(fan_id % 90000) AS first_purchase_at,
    TIMESTAMPTZ '2026-10-01' + to_minutes(fan_id % 40000) AS last_purchase_at,
    TIMESTAMPTZ '2026-12-01' AS as_of
FROM range({first}, {last}) AS r(fan_id)
"""


def write_profile(con: duckdb.DuckDBPyConnection, root: Path, index: int, run: str,
                  spend_shift: int = 0, commit: bool = True) -> None:
    """Creator `index`'s fan_profile (his own people and a fifth of the next creator's) and, when
    `commit`, his manifest naming it."""
    creator = f"acct_bench{index:03d}"
    per_creator = PEOPLE // CREATORS
    first = index * per_creator
    last = first + per_creator + per_creator // 5
    folder = root / "marts" / creator / run
    folder.mkdir(parents=True, exist_ok=True)
    select = PROFILE.format(creator=creator, first=first, last=min(last, PEOPLE),
                            spend_shift=spend_shift)
    con.execute(f"COPY ({select}) TO '{folder / 'fan_profile.parquet'}' (FORMAT parquet)")
    if commit:
        (root / "marts" / creator / "manifest.json").write_text(
            json.dumps({"fan_profile": f"marts/{creator}/{run}/fan_profile.parquet"}))


def lay_out_lake_files(store) -> int:
    """Each creator's raw months (every raw table) and staged tables, as copies of one small
    file each; returns how many files were laid out."""
    import shutil
    from datetime import UTC, datetime

    from ofhq_pipeline import registry
    from ofhq_pipeline.lake import RAW_TABLES

    raw = store.write_raw_batch("fans", "acct_template", [{"id": 1}], fetched_at=datetime.now(UTC),
                                sync_mode="full")
    staged = store.root / "template.parquet"
    duckdb.execute(f"COPY (SELECT 'x' AS creator_id, 1 AS fan_id) TO '{staged}' (FORMAT parquet)")
    made = 0
    for index in range(CREATORS):
        creator = f"acct_bench{index:03d}"
        for table in RAW_TABLES:
            folder = store.raw_dir(table, creator)
            folder.mkdir(parents=True, exist_ok=True)
            for month in range(MONTHS):
                shutil.copyfile(raw, folder / f"{2026 - month // 12}-{12 - month % 12:02d}.parquet")
                made += 1
        for model in registry.models(layer="staging"):
            path = store.staging_path(model.table, creator)
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(staged, path)
            made += 1
    shutil.rmtree(raw.parent)
    staged.unlink()
    return made


def timed(store) -> tuple[object, float]:
    from ofhq_pipeline.lifecycle.agency import write_fan_agency

    start = time.perf_counter()
    rollup = write_fan_agency(store)
    return rollup, time.perf_counter() - start


def main() -> None:
    from ofhq_pipeline.lake import Lake
    from ofhq_pipeline.lifecycle.agency import fan_agency_path, sources_path
    from ofhq_pipeline.settings import Paths
    from ofhq_pipeline.warehouse.publish import agency_held_path, lake_row_counts, publish

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store = Lake(Paths(home=home, warehouse=home / "warehouse.duckdb",
                           analysts_marts=home / "marts.duckdb"))
        con = duckdb.connect()
        for index in range(CREATORS):
            write_profile(con, store.root, index, "run1")
        whole, whole_s = timed(store)
        write_profile(con, store.root, 0, "run2", spend_shift=1234)  # his next run
        one, one_s = timed(store)
        incremental = fan_agency_path(store).with_name("incremental.parquet")
        fan_agency_path(store).replace(incremental)
        sources_path(store).unlink()
        again, again_s = timed(store)
        (differing,) = con.execute(
            f"SELECT count(*) FROM ((FROM '{incremental}' EXCEPT ALL FROM '{fan_agency_path(store)}')"
            f" UNION ALL (FROM '{fan_agency_path(store)}' EXCEPT ALL FROM '{incremental}'))"
        ).fetchone()
        files = lay_out_lake_files(store)
        publish(store)  # the analysts' file, whole
        seconds = {}
        for run, from_scratch in (("run3", False), ("run4", True)):
            write_profile(con, store.root, 0, run, spend_shift=len(run) * 7, commit=False)
            if from_scratch:  # no records: the agency rolled up and replaced whole
                sources_path(store).unlink()
                agency_held_path(store).unlink()
            start = time.perf_counter()
            publish(store, "acct_bench000", run)
            seconds[from_scratch] = time.perf_counter() - start
        counted = {}
        for creator in (None, "acct_bench000"):
            start = time.perf_counter()
            lake_row_counts(store, creator)
            counted[creator] = time.perf_counter() - start
        con.close()
    print(f"== agency rollup (marts.fan_agency) at publish: {CREATORS} creators, "
          f"{whole.rows:,} people")
    print(f"whole: {whole_s:.2f} s; after one creator's run: {one_s:.2f} s "
          f"({one.recomputed:,} people rolled up again); whole again: {again_s:.2f} s; "
          f"the two identical: {'yes' if differing == 0 else f'NO ({differing} rows differ)'}")
    print(f"one creator's publish: {seconds[False]:.2f} s catching up by his people, "
          f"{seconds[True]:.2f} s with the agency rolled up and replaced whole "
          f"({files:,} raw and staged files in the lake)")
    print(f"system_stats' row counts: every creator's files {counted[None]:.2f} s (what each "
          f"publish counted before), one creator's {counted['acct_bench000']:.2f} s")


if __name__ == "__main__":
    main()
