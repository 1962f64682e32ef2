"""A year of syncs for one creator: what one incremental sync costs at the start and at the end
of the year (its staging, then its marts run), and how big raw is on disk.

The year is written as one raw batch per table per day, holding what that day's 32 syncs (every
45 minutes, 11,680 in the year) would have landed: the whole fan list once a day (a few percent
of fans changed; the other syncs read only new fans), the chats list, 24 hours of transactions
re-read by each sync and 35 days re-read once a day (refunds show as a status change), and the
new messages. Compaction folds the batches into months as the staging step does, dropping the
unchanged whole-feed copies older than a week. Then one sync lands, is staged and its marts are
built (the money and lifecycle marts, through Dagster as the creator's marts run builds them):
the timing, taken in turn on the year's first day and on its last, so that both meet the same
machine.

Sizes: BENCH_YEAR_FANS (10,000), BENCH_YEAR_DAYS (365), BENCH_YEAR_PURCHASES_PER_DAY (300).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

import dagster as dg

from bench.instance import project_instance
from bench.steps import every_mart, model_seconds
from ofhq_pipeline.lake import Lake, quote
from ofhq_pipeline.registry import models
from ofhq_pipeline.settings import Paths
from ofhq_pipeline.staging.compaction import CompactionSettings, compact
from ofhq_pipeline.staging.merge import StagingMerge

CREATOR = "acct_year"
FANS = int(os.environ.get("BENCH_YEAR_FANS", "10000"))
DAYS = int(os.environ.get("BENCH_YEAR_DAYS", "365"))
PURCHASES = int(os.environ.get("BENCH_YEAR_PURCHASES_PER_DAY", "300"))
CHATS = FANS // 5
SYNCS_PER_DAY = 32
SYNCS_MEASURED = 15  # incremental syncs timed at the start and at the end of the year
# Then syncs that also bring a refund of a purchase staged before (as the daily deep read does):
# staging folds the change into the staged transactions, writing them again.
REFUND_SYNCS = 3
START = datetime(2026, 1, 1, tzinfo=UTC)
STAGING = [m.table for m in models(layer="staging")]

# One batch per table per day (`day` 0..days-1), as the day's syncs would have landed it. A fan's
# payload changes only on the days he changes, so unchanged copies are byte-identical.
DAILY_SQL = {
    "fans": """
        SELECT c.day, c.fan AS item,
            json_object('id', c.fan, 'username', 'u' || c.fan, 'name', 'Fan ' || c.fan,
                'lastSeen', strftime(getvariable('start') + to_days(c.changed), '%Y-%m-%dT%H:%M:%S+00:00'),
                'subscribedOnData', json_object(
                    'status', CASE WHEN c.changed % 7 = 6 THEN 'expired' ELSE 'active' END,
                    'subscribeAt', strftime(getvariable('start') - to_days(c.fan % 300), '%Y-%m-%dT%H:%M:%S+00:00'),
                    'expiredAt', strftime(getvariable('start') + to_days(c.changed + 30), '%Y-%m-%dT%H:%M:%S+00:00'),
                    'subscribePrice', 9.99, 'regularPrice', 9.99, 'discountPercent', 0,
                    'totalSumm', c.changed * 5, 'subscribes', json('[]')))::VARCHAR AS payload,
            NULL::BIGINT AS chat_fan_id
        FROM (
            -- the last day on or before this one that the fan changed (3 % of fans a day)
            SELECT d.day, f.fan, coalesce(max(CASE WHEN hash(f.fan, d.day) % 100 < 3
                                                   THEN d.day::INT END)
                OVER (PARTITION BY f.fan ORDER BY d.day), 0) AS changed
            FROM range(getvariable('days')) AS d(day), range(1, getvariable('fans') + 1) AS f(fan)
        ) AS c""",
    "chats": """
        SELECT d.day, f.fan AS item,
            json_object('fan', json_object('id', f.fan, 'username', 'u' || f.fan),
                'lastMessage', json_object('id', f.fan * 1000 + d.day, 'text', 'hey',
                    'createdAt', strftime(getvariable('start') + to_days(d.day), '%Y-%m-%dT%H:%M:%S+00:00'),
                    'fromUser', json_object('id', f.fan), 'price', 0, 'isFree', true),
                'unreadMessagesCount', 0)::VARCHAR AS payload,
            NULL::BIGINT AS chat_fan_id
        FROM range(getvariable('days')) AS d(day), range(1, getvariable('chats') + 1) AS f(fan)
        WHERE hash(f.fan, d.day) % 100 < 60 OR d.day = 0""",
    "messages": """
        SELECT d.day, m.n AS item,
            json_object('id', (m.n % getvariable('chats') + 1) * 1000 + d.day + m.n * 1000000,
                'text', 'message ' || m.n, 'price', CASE WHEN m.n % 10 = 0 THEN 9 ELSE 0 END,
                'isFree', m.n % 10 <> 0, 'isTip', false,
                'createdAt', strftime(getvariable('start') + to_days(d.day), '%Y-%m-%dT%H:%M:%S+00:00'),
                'fromUser', json_object('id', CASE WHEN m.n % 2 = 0 THEN m.n % getvariable('chats') + 1 ELSE 1 END),
                'media', json('[]'))::VARCHAR AS payload,
            m.n % getvariable('chats') + 1 AS chat_fan_id
        FROM range(getvariable('days')) AS d(day), range(getvariable('chats') // 2) AS m(n)""",
    "transactions": """
        WITH made AS (
            SELECT p.n, p.n // getvariable('purchases') AS made_day,
                   'tx' || lpad(p.n::VARCHAR, 10, '0') AS id, 1 + p.n % getvariable('fans') AS fan
            FROM range(getvariable('days') * getvariable('purchases')) AS p(n)
        )
        SELECT d.day, row_number() OVER () AS item,
            json_object('id', m.id, 'amount', 12.5, 'net', 10, 'fee', 2.5, 'vatAmount', 0,
                'currency', 'USD', 'description', 'Payment for message from u' || m.fan,
                'status', CASE WHEN m.n % 50 = 0 AND d.day > m.made_day + 3 THEN 'refunded'
                               ELSE 'done' END,
                'createdAt', strftime(getvariable('start') + to_days(m.made_day), '%Y-%m-%dT%H:%M:%S+00:00'),
                'user', json_object('id', m.fan, 'username', 'u' || m.fan))::VARCHAR AS payload,
            NULL::BIGINT AS chat_fan_id
        FROM range(getvariable('days')) AS d(day)
        JOIN made AS m ON m.made_day BETWEEN d.day - 35 AND d.day,
        -- each of the day's syncs re-reads the last day; the deep read once the last 35 days
        LATERAL (SELECT x FROM range(CASE WHEN m.made_day >= d.day - 1 THEN getvariable('syncs') ELSE 1 END) AS r(x))""",
    "vault_media": """
        SELECT d.day, v.n AS item,
            json_object('id', v.n, 'type', 'photo', 'createdAt', '2025-06-01T00:00:00+00:00',
                'counters', json_object('likesCount', v.n, 'tipsSumm', 0))::VARCHAR AS payload,
            NULL::BIGINT AS chat_fan_id
        FROM range(getvariable('days')) AS d(day), range(1, 501) AS v(n)""",
}


def write_year(lake: Lake, days: int) -> int:
    """Every table's daily batches for `days` days; returns the rows written."""
    con = lake.connect()
    con.execute("SET VARIABLE start = ?::TIMESTAMPTZ", [START.isoformat()])
    for name, value in {"days": days, "fans": FANS, "chats": CHATS, "purchases": PURCHASES,
                        "syncs": SYNCS_PER_DAY}.items():
        con.execute(f"SET VARIABLE {name} = {value}")
    written = 0
    for table, select in DAILY_SQL.items():
        folder = lake.raw_dir(table, CREATOR)
        folder.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(dir=lake.root))
        con.execute(f"""
            COPY (
                SELECT '{CREATOR}' AS creator_id,
                    strftime(getvariable('start') + to_days(day::INT), '%Y%m%dT%H%M%S')
                        || '000000-' || lpad(day::VARCHAR, 8, '0') AS batch_id,
                    getvariable('start') + to_days(day::INT) + INTERVAL 23 HOUR AS fetched_at,
                    'bench' AS sync_mode, (row_number() OVER (PARTITION BY day) - 1)::BIGINT
                        AS item_no, payload, chat_fan_id, day
                FROM ({select})
            ) TO {quote(staged)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (day))""")
        for part in staged.glob("day=*/*.parquet"):
            day = int(part.parent.name.split("=")[1])
            batch = f"{(START + timedelta(days=day)):%Y%m%dT%H%M%S}000000-{day:08d}"
            part.rename(folder / f"{batch}.parquet")
        shutil.rmtree(staged)
        (rows,) = con.execute(
            f"SELECT count(*) FROM read_parquet({quote(folder / '*.parquet')})").fetchone()
        written += rows
    con.close()
    return written


def stage_all(lake: Lake, *, full: bool, tables: dict | None = None) -> float:
    """Every staging table, as the staging step builds them; each table's seconds into
    `tables`."""
    started = time.perf_counter()
    with lake.session(CREATOR) as con:
        merge = StagingMerge(lake, con, CREATOR)
        for table in STAGING:
            began = time.perf_counter()
            merge.build(table, full=full)
            if tables is not None:
                tables.setdefault(table, []).append(time.perf_counter() - began)
    return time.perf_counter() - started


def sync_time(day: int) -> datetime:
    """When the measured sync of `day` runs."""
    return START + timedelta(days=day, hours=23, minutes=30)


def build_marts(instance: dg.DagsterInstance, lake: Lake, day: int) -> tuple[float, float]:
    """The creator's marts after the sync of `day`, materialized as his marts run builds them:
    (the run's wall seconds, its models' own seconds)."""
    from ofhq_pipeline.definitions import build_definitions

    # The definitions' resources take the lake and the as-of from the environment they are
    # built in.
    os.environ.update(OFHQ_HOME=str(lake.paths.home), OFHQ_AS_OF=sync_time(day).isoformat())
    defs = build_definitions()
    started = time.perf_counter()
    result = dg.materialize(
        list(defs.assets), selection=dg.AssetSelection.assets(*every_mart()),
        partition_key=CREATOR, instance=instance, resources=defs.resources,
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
    wall = time.perf_counter() - started
    assert result.success
    # The run wrote into this lake (the resources read OFHQ_HOME when the run starts).
    assert lake.mart_path("fan_profile", CREATOR, result.run_id).exists()
    return wall, sum(seconds for _, seconds in model_seconds(instance, result.run_id))


def one_sync(lake: Lake, day: int, *, refund: bool = False) -> None:
    """What one incremental sync on `day` lands: a few new fans (the latest-fans read), the chat
    list, the last 24 hours of transactions with the purchases made since the sync before (a
    day's 300 over its 32 syncs), and the new messages; with `refund`, one of the purchases
    re-read is refunded since."""
    at = sync_time(day)
    iso = at.isoformat()
    new_fans = [{"id": FANS + day * 10 + i, "username": f"n{i}", "name": "New", "lastSeen": iso,
                 "subscribedOnData": {"status": "active", "subscribeAt": iso, "expiredAt": iso,
                                      "subscribePrice": 9.99, "regularPrice": 9.99,
                                      "discountPercent": 0, "totalSumm": 0, "subscribes": []}}
                for i in range(3)]
    lake.write_raw_batch("fans", CREATOR, new_fans, fetched_at=at, sync_mode="latest")
    con = lake.connect()
    newest = {}
    for table in ("chats", "transactions", "vault_media"):
        files = lake.raw_files(table, CREATOR)
        newest[table] = [row[0] for row in con.execute(
            f"SELECT payload FROM read_parquet({quote(files[-1])})").fetchall()]
    con.close()
    chats = newest["chats"][:CHATS]
    lake.write_raw_batch("chats", CREATOR, [json.loads(c) for c in chats], fetched_at=at,
                         sync_mode="snapshot")
    # The last 24 hours re-read, and the purchases made since the sync before (45 minutes).
    day_purchases = [json.loads(t) for t in newest["transactions"][-PURCHASES:]]
    day_purchases += [{**day_purchases[-1], "id": f"tn{day:05d}{i:04d}", "createdAt": iso,
                       "status": "done", "user": {"id": 1 + (day * 97 + i * 31) % FANS}}
                      for i in range(PURCHASES // SYNCS_PER_DAY)]
    if refund:
        first_done = next(i for i, t in enumerate(day_purchases) if t["status"] == "done")
        day_purchases[first_done] = {**day_purchases[first_done], "status": "refunded"}
    lake.write_raw_batch("transactions", CREATOR, day_purchases, fetched_at=at,
                         sync_mode="incremental")
    lake.write_raw_batch("chargebacks", CREATOR, [], fetched_at=at, sync_mode="incremental")
    messages = [{"id": 9_000_000_000 + day * 100 + i, "text": "new", "price": 0, "isFree": True,
                 "createdAt": iso, "fromUser": {"id": 1 + i}, "media": []} for i in range(40)]
    lake.write_raw_batch("messages", CREATOR, messages, fetched_at=at, sync_mode="incremental",
                         extra={"chat_fan_id": [1 + i for i in range(40)]})
    lake.write_raw_batch("vault_media", CREATOR, [json.loads(v) for v in newest["vault_media"]],
                         fetched_at=at, sync_mode="snapshot")


def size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*.parquet")) / 1e6


def prepare(days: int, root: Path) -> tuple[Lake, dict]:
    """A lake holding `days` of the year, compacted and staged as the staging step leaves it."""
    lake = Lake(Paths(home=root, warehouse=root / "w.duckdb", analysts_marts=root / "m.duckdb"))
    started = time.perf_counter()
    written = write_year(lake, days)
    generated = time.perf_counter() - started
    rebuild = stage_all(lake, full=True)
    raw_before = size_mb(lake.root / "raw")
    started = time.perf_counter()
    compact(lake, CREATOR, CompactionSettings(batches=1, unchanged_copies_days=7))
    compacting = time.perf_counter() - started
    con = lake.connect()
    kept = sum(con.execute(f"SELECT count(*) FROM read_parquet({quote(f)})").fetchone()[0]
               for table in DAILY_SQL for f in lake.raw_files(table, CREATOR))
    con.close()
    rebuild_compacted = stage_all(lake, full=True)
    return lake, {"days": days, "rows_written": written, "rows_kept": kept,
                  "generate_s": generated, "rebuild_s": rebuild,
                  "rebuild_compacted_s": rebuild_compacted, "compact_s": compacting,
                  "raw_mb_before": raw_before, "raw_mb_after": size_mb(lake.root / "raw"),
                  "raw_files": len(list((lake.root / "raw").rglob("*.parquet")))}


def measure(days: list[int]) -> list[dict]:
    """One lake per length of year; then their incremental syncs, taken in turn (a sync of
    each, then the next of each), so that the machine's pace drifting during the benchmark
    weighs on every length alike and their ratio compares the code's costs alone."""
    roots = [Path(tempfile.mkdtemp(prefix="ofhq-year-")) for _ in days]
    try:
        prepared = [prepare(n, root) for n, root in zip(days, roots, strict=True)]
        staging: list[list[float]] = [[] for _ in days]
        tables: list[dict] = [{} for _ in days]
        marts: list[list[tuple[float, float]]] = [[] for _ in days]
        refunds: list[list[float]] = [[] for _ in days]
        # The environment each marts run is built in (build_marts) is put back afterwards.
        with patch.dict(os.environ), project_instance() as instance:
            instance.add_dynamic_partitions("creators", [CREATOR])
            for n in range(SYNCS_MEASURED):  # each on a new day's data
                for i, (lake, facts) in enumerate(prepared):
                    day = facts["days"] + n
                    one_sync(lake, day)
                    staging[i].append(stage_all(lake, full=False, tables=tables[i]))
                    marts[i].append(build_marts(instance, lake, day))
            for n in range(REFUND_SYNCS):
                for i, (lake, facts) in enumerate(prepared):
                    day = facts["days"] + SYNCS_MEASURED + n
                    one_sync(lake, day, refund=True)
                    staged = stage_all(lake, full=False)
                    refunds[i].append(staged + build_marts(instance, lake, day)[0])
        return [{**facts, "sync_s": statistics.median(staging[i]),
                 "sync_mean_s": statistics.mean(staging[i]),
                 "tables": {t: statistics.median(s) for t, s in tables[i].items()},
                 "marts_s": statistics.median(wall for wall, _ in marts[i]),
                 "marts_models_s": statistics.median(own for _, own in marts[i]),
                 "whole_s": statistics.median(s + wall for s, (wall, _) in
                                              zip(staging[i], marts[i], strict=True)),
                 "refund_s": statistics.median(refunds[i])}
                for i, (_, facts) in enumerate(prepared)]
    finally:
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    print(f"== a year of syncs, one creator: {FANS:,} fans, {CHATS:,} chats, {PURCHASES} purchases "
          f"a day, {SYNCS_PER_DAY} syncs a day ({DAYS * SYNCS_PER_DAY:,} in {DAYS} days)")
    start, end = measure([1, DAYS])
    for label, m in (("start (day 1)", start), (f"end (day {DAYS})", end)):
        print(f"{label}: raw rows landed {m['rows_written']:,}, kept after compaction "
              f"{m['rows_kept']:,}; raw on disk {m['raw_mb_before']:.1f} MB → "
              f"{m['raw_mb_after']:.1f} MB in {m['raw_files']} files (compaction {m['compact_s']:.1f} s); "
              f"rebuild from raw {m['rebuild_s']:.1f} s ({m['rebuild_compacted_s']:.1f} s compacted)")
        print(f"  one incremental sync's staging, median of {SYNCS_MEASURED}: {m['sync_s']:.2f} s ("
              + ", ".join(f"{t} {s:.2f}" for t, s in m["tables"].items())
              + f"); mean {m['sync_mean_s']:.2f} s (with the changes folded into a table now "
              "and then)")
        print(f"  its marts run, median: {m['marts_s']:.2f} s, of which the models' own "
              f"{m['marts_models_s']:.2f} s; staging and marts together {m['whole_s']:.2f} s")
        print(f"  a sync that also brings a refund of a staged purchase (its staged transactions "
              f"written again), median of {REFUND_SYNCS}: {m['refund_s']:.2f} s")
    print(f"ratio end / start of the year, staging: {end['sync_s'] / start['sync_s']:.2f} median, "
          f"{end['sync_mean_s'] / start['sync_mean_s']:.2f} mean; the marts' models: "
          f"{end['marts_models_s'] / start['marts_models_s']:.2f}; staging and marts run together: "
          f"{end['whole_s'] / start['whole_s']:.2f} (target ≤ 1.2)")


if __name__ == "__main__":
    main()
