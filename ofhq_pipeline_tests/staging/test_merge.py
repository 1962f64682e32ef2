"""Incremental staging: merging each sync's new batches gives exactly the tables a rebuild from
raw gives, after many interleaved syncs, late and replayed webhooks, refunds and chargebacks; and
compacting raw (folding batches into months, dropping unchanged whole-feed copies) changes
nothing staging computes."""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from ofhq_pipeline import registry
from ofhq_pipeline.lake import Lake, is_month_file, quote
from ofhq_pipeline.staging import merge as merge_module
from ofhq_pipeline.staging.compaction import CompactionSettings, compact
from ofhq_pipeline.staging.merge import state_path
from ofhq_pipeline_tests import builders
from ofhq_pipeline_tests.builders import (
    CREATOR,
    chargeback,
    chat,
    day,
    fan,
    make_lake,
    message,
    period,
    staged_dicts,
    txn,
    write_sync,
)
from ofhq_pipeline_tests.staging.hostile import land_webhooks

TABLES = [model.table for model in registry.models(layer="staging")]


def stage(lake: Lake, *, full: bool = False) -> dict[str, str]:
    """Each staging table's mode (rebuilt, merged, unchanged) as the staging step builds them."""
    return {table: staged.mode for table, staged in builders.stage(lake, full=full).items()}


def table_rows(lake: Lake, table: str) -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.execute(f"SELECT * FROM ({lake.staged_select(table, CREATOR)}) "
                           "ORDER BY ALL").fetchall()
    finally:
        con.close()


def changed_rows(lake: Lake, table: str) -> int:
    """The rows of a staging table's changes (0 when it has none)."""
    path = lake.staging_changes_path(table, CREATOR)
    if not path.exists():
        return 0
    return duckdb.sql(f"SELECT count(*) FROM read_parquet({quote(path)})").fetchone()[0]


class Agency:
    """One creator's API, changing at random between syncs: fans change or stay, purchases are
    refunded or charged back, chats get messages, webhooks arrive on time, late or twice."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.now = day(0)
        self.fans = {i: fan(i, subscribe_at=day(-i)) for i in range(1, 13)}
        self.transactions: dict[str, dict] = {}
        self.chats: dict[int, dict] = {}
        self.next_id = 1

    def step(self) -> None:
        rng = self.rng
        self.now += timedelta(minutes=45)
        for f in rng.sample(sorted(self.fans), 3):  # a few fans change, most do not
            sub = self.fans[f]["subscribedOnData"]
            sub["status"] = rng.choice(["active", "expired"])
            if rng.random() < 0.5:
                sub["subscribes"] = [*sub["subscribes"], period(self.now, rng.choice([0, 4.99]))]
            self.fans[f]["lastSeen"] = self.now.isoformat()
        for _ in range(rng.randint(0, 3)):
            tid = f"t{self.next_id}"
            self.next_id += 1
            self.transactions[tid] = txn(tid, rng.choice(sorted(self.fans)), rng.choice([5, 12.5]),
                                         self.now - timedelta(minutes=rng.randint(0, 40)))
        if self.transactions and rng.random() < 0.3:
            refunded = self.transactions[rng.choice(sorted(self.transactions))]
            refunded["status"] = "refunded"
        if rng.random() < 0.4:
            f = rng.choice(sorted(self.fans))
            mid = 10_000 + self.next_id
            self.next_id += 1
            self.chats[f] = chat(f, message(mid, f, self.now, from_fan=rng.random() < 0.5,
                                            price=rng.choice([0, 9])))

    def sync(self, lake: Lake) -> None:
        """The raw batches one sync writes: the whole fan and chat lists, a day of transactions
        (re-read copies included), a chargeback now and then, the new chats' messages."""
        recent = [dict(t) for t in self.transactions.values()
                  if t["createdAt"] >= (self.now - timedelta(days=1)).isoformat()]
        chargebacks = []
        if self.transactions and self.rng.random() < 0.2:
            paid = self.transactions[self.rng.choice(sorted(self.transactions))]
            chargebacks.append(chargeback(f"c{self.next_id}", dict(paid), self.now))
            self.next_id += 1
        messages = [(f, c["lastMessage"]) for f, c in self.chats.items()
                    if self.rng.random() < 0.5]
        write_sync(lake, fetched_at=self.now, fans=[json.loads(json.dumps(f))
                                                    for f in self.fans.values()],
                   transactions=recent, chargebacks=chargebacks, messages=messages,
                   chats=list(self.chats.values()))

    def webhooks(self, lake: Lake) -> None:
        """Subscription, purchase and message events; some late (occurring before the last
        sync), some replayed (an old `done` after its refund)."""
        rng, events = self.rng, []
        at = self.now - timedelta(minutes=rng.choice([5, 90]))
        f = rng.choice(sorted(self.fans))
        kind = rng.choice(["subscriptions.new", "subscriptions.renewed", "subscriptions.expired"])
        events.append((kind, json.dumps({
            "user": {"id": f, "username": f"u{f}x", "name": f"Fan {f}"},
            "subscribeAt": at.isoformat(), "expiredAt": (at + timedelta(days=30)).isoformat(),
            "price": 4.99, "regularPrice": 9.99, "discount": 50})))
        if self.transactions:
            old = dict(self.transactions[rng.choice(sorted(self.transactions))], status="done")
            events.append(("transactions.new", json.dumps(old)))
        mid = 20_000 + self.next_id
        self.next_id += 1
        events.append(("messages.received", json.dumps(
            {**message(mid, f, at, from_fan=True), "fromUser": {"id": f}})))
        land_webhooks(lake, events, at)


def synced(lake: Lake, *, seed: int, syncs: int) -> Lake:
    """`lake` after `syncs` syncs of a random agency, each staged as the staging step does."""
    agency = Agency(seed)
    for _ in range(syncs):
        agency.step()
        agency.sync(lake)
        stage(lake)
    return lake


def copy_new_raw(source: Lake, target: Lake, seen: set[Path]) -> None:
    """The raw batches written to `source` since the last call, into `target` as they are."""
    for path in sorted(source.root.glob("raw/*/*/*.parquet")):
        if path not in seen:
            seen.add(path)
            copy = target.root / path.relative_to(source.root)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)


def never_fold(monkeypatch) -> None:
    """Changes are never folded into the base: not when they grow, not when they replace a
    transaction the base holds."""
    monkeypatch.setattr(merge_module, "FOLD_SHARE", float("inf"))
    monkeypatch.setitem(merge_module.MERGES, "transactions", dataclasses.replace(
        merge_module.MERGES["transactions"], fold_replacements=False))


@pytest.mark.parametrize(("seed", "fold_share"), [
    (3, merge_module.FOLD_SHARE),
    # Changes never folded into the base: merged over changes, entities removed included.
    # (15 s: in the second CI step, `make test-slow`, with the other seed.)
    pytest.param(3, float("inf"), marks=pytest.mark.slow),
    pytest.param(17, merge_module.FOLD_SHARE, marks=pytest.mark.slow),
])
def test_merge_equals_rebuild_after_many_syncs_webhooks_and_chargebacks(
    tmp_path, monkeypatch, seed, fold_share
):
    if fold_share == float("inf"):
        never_fold(monkeypatch)
    plain = make_lake(tmp_path / "plain")  # raw as written, never compacted
    merged = make_lake(tmp_path / "merged")  # merged after every sync and compacted
    agency, seen = Agency(seed), set()
    modes: list[dict[str, str]] = []
    for n in range(30):
        agency.step()
        agency.sync(plain)
        if n % 3 == 1:
            agency.webhooks(plain)
        copy_new_raw(plain, merged, seen)
        modes.append(stage(merged))
        if n % 4 == 3:
            compact(merged, CREATOR, CompactionSettings(batches=3, unchanged_copies_days=0))
    stage(plain, full=True)
    assert modes[0] == dict.fromkeys(TABLES, "rebuilt")
    assert all(set(m.values()) <= {"merged", "unchanged"} for m in modes[1:])
    if fold_share == float("inf"):  # each table merged is its base plus its changes
        was_merged = {t for m in modes for t, mode in m.items() if mode == "merged"}
        assert was_merged - {"cast_rejects"} == {t for t in TABLES if changed_rows(merged, t)}
    # A merge touched only some entities: whole-feed fans re-listed unchanged are not recomputed.
    for table in TABLES:
        assert table_rows(merged, table) == table_rows(plain, table), table
    # Compaction folded batches into month files and dropped unchanged copies of fans.
    months = [f for f in merged.root.glob("raw/fans/*/*.parquet") if is_month_file(f)]
    assert months
    con = duckdb.connect()
    kept = con.execute(f"SELECT count(*) FROM read_parquet({quote(months[0])})").fetchone()[0]
    written = con.execute(
        "SELECT count(*) FROM read_parquet(?)", [str(plain.raw_dir("fans", CREATOR) / "*.parquet")]
    ).fetchone()[0]
    assert kept < written - 12 * 10  # most of the 30 × 12 fan sightings were unchanged copies
    # And a rebuild from the compacted raw gives the same tables again.
    stage(merged, full=True)
    for table in TABLES:
        assert table_rows(merged, table) == table_rows(plain, table), table


def test_nothing_new_changes_nothing_and_a_resighting_moves_only_last_seen(tmp_path):
    lake = make_lake(tmp_path)
    fans = [fan(1), fan(2)]
    write_sync(lake, fetched_at=day(1), fans=fans, transactions=[txn("t1", 1, 5, day(1))])
    assert set(stage(lake).values()) == {"rebuilt"}
    before = {table: table_rows(lake, table) for table in TABLES}
    assert set(stage(lake).values()) == {"unchanged"}
    assert {table: table_rows(lake, table) for table in TABLES} == before
    # The same fans listed again, the same purchase re-read by the lookback.
    write_sync(lake, fetched_at=day(2), fans=fans, transactions=[txn("t1", 1, 5, day(1))])
    staged = builders.stage(lake)
    assert staged["fans"].work_set == 0 and staged["fans"].last_seen_only == 2
    assert staged["transactions"].work_set == 0
    assert not any(s.changed for s in staged.values()), staged
    con = duckdb.connect()
    seen = con.execute(f"SELECT DISTINCT last_fetched_at FROM "
                       f"({lake.staged_select('fans', CREATOR)})").fetchall()
    assert seen == [(day(2),)]


def test_a_damaged_merge_record_or_a_compaction_cut_short_still_stages_right(tmp_path):
    lake = synced(make_lake(tmp_path), seed=5, syncs=6)
    compact(lake, CREATOR, CompactionSettings(batches=2, unchanged_copies_days=0))
    expected = {table: table_rows(lake, table) for table in TABLES}
    # A compaction cut short after writing the month: one folded batch is still there.
    month = next(f for f in lake.raw_files("fans", CREATOR) if is_month_file(f))
    con = duckdb.connect()
    batch_id = con.execute(f"SELECT min(batch_id) FROM read_parquet({quote(month)})").fetchone()[0]
    con.execute(f"COPY (SELECT * EXCLUDE (key_fan) FROM read_parquet({quote(month)}) "
                f"WHERE batch_id = '{batch_id}') TO "
                f"{quote(lake.raw_dir('fans', CREATOR) / (batch_id + '.parquet'))} (FORMAT parquet)")
    # And a merge record overwritten with garbage.
    state_path(lake, "transactions", CREATOR).write_text("{not json")

    assert stage(lake)["transactions"] == "rebuilt"
    compact(lake, CREATOR, CompactionSettings(batches=2, unchanged_copies_days=0))
    assert not (lake.raw_dir("fans", CREATOR) / f"{batch_id}.parquet").exists()
    assert stage(lake, full=True) and {t: table_rows(lake, t) for t in TABLES} == expected


def test_the_sync_cursors_read_compacted_raw(tmp_path):
    """The messages cursor and the chats read still see what compaction folded into months."""
    from ofhq_pipeline.defs.source.assets import known_message_ids, latest_chats

    lake = synced(make_lake(tmp_path), seed=11, syncs=8)
    cursors, chats = known_message_ids(lake, CREATOR), latest_chats(lake, CREATOR)
    assert cursors and chats
    compact(lake, CREATOR, CompactionSettings(batches=2, unchanged_copies_days=0))
    assert any(is_month_file(f) for f in lake.raw_files("messages", CREATOR))
    assert known_message_ids(lake, CREATOR) == cursors
    assert latest_chats(lake, CREATOR) == chats



def test_a_replayed_status_after_a_refund_is_recomputed(tmp_path):
    lake = make_lake(tmp_path)
    write_sync(lake, fetched_at=day(1), transactions=[txn("t1", 1, 5, day(1))])
    builders.stage(lake)
    write_sync(lake, fetched_at=day(2), transactions=[txn("t1", 1, 5, day(1), status="refunded")])
    builders.stage(lake)
    # A `done` replayed, then the refund again: the new sightings alone end as the staged row
    # does, yet the replay counts against the refund already held.
    write_sync(lake, fetched_at=day(3), transactions=[
        txn("t1", 1, 5, day(1)), txn("t1", 1, 5, day(1), status="refunded")])
    assert builders.stage(lake)["transactions"].work_set == 1
    merged = table_rows(lake, "transactions")
    builders.stage(lake, full=True)
    assert merged == table_rows(lake, "transactions")
    (row,) = staged_dicts(lake, "transactions")
    assert (row["status"], row["status_regressions"]) == ("refunded", 1)


def test_every_reader_sees_the_changes_applied_and_a_fold_keeps_the_table(tmp_path, monkeypatch):
    from ofhq_pipeline.warehouse.publish import build_warehouse_catalog

    never_fold(monkeypatch)
    lake, agency = make_lake(tmp_path), Agency(11)
    for _ in range(8):
        agency.step()
        agency.sync(lake)
        stage(lake)
    merged = {table: table_rows(lake, table) for table in TABLES}

    assert all(changed_rows(lake, t) > 0 for t in ("fans", "transactions", "messages"))
    # The data engineers' warehouse reads the same tables as the staging models do.
    build_warehouse_catalog(lake, lake.paths.warehouse)
    with duckdb.connect(str(lake.paths.warehouse), read_only=True) as wh:
        for table in TABLES:
            assert wh.execute(f"SELECT * FROM staging.{table} ORDER BY ALL").fetchall() == \
                merged[table], table
    # One more sync with folding back on: each table merged has its changes folded into its
    # base, and they are the tables a rebuild gives.
    monkeypatch.setattr(merge_module, "FOLD_SHARE", 0.0)
    agency.step()
    agency.sync(lake)
    was_merged = [t for t, mode in stage(lake).items() if mode == "merged" and t != "cast_rejects"]
    assert "messages" in was_merged and all(changed_rows(lake, t) == 0 for t in was_merged)
    folded = {table: table_rows(lake, table) for table in TABLES}
    stage(lake, full=True)
    assert folded == {table: table_rows(lake, table) for table in TABLES}
