"""intermediate.fan_chat, built incrementally: a build that starts from the last one gives the
table a build from nothing gives (replies, last messages, counts, busiest hours), through new,
late and re-sighted messages and an as_of that moves back and forth; it re-reads only the chats
of the fans whose messages changed; and it starts from nothing when the last build is another
creator's or another definition's."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest

from ofhq_pipeline.lake import definition, empty_select, quote, sql_text
from ofhq_pipeline_tests.builders import (
    CREATOR,
    build_model,
    day,
    make_lake,
    message,
    stage,
    write_sync,
)

KEY = "intermediate/fan_chat"


@pytest.fixture
def lake(tmp_path):
    return make_lake(tmp_path)


def said(mid: int, fan_id: int, at, *, from_fan: bool):
    return fan_id, message(mid, fan_id, at, from_fan=from_fan)


def exchange(first_id: int, fan_id: int, at, gaps_s: list[int]):
    """Messages alternating creator, fan, creator, ... each `gap` seconds after the one before."""
    out = []
    for i, gap in enumerate([0, *gaps_s]):
        at = at + timedelta(seconds=gap)
        out.append(said(first_id + i, fan_id, at, from_fan=i % 2 == 1))
    return out


def incremental(lake, as_of) -> list[tuple]:
    """The table as the model's asset builds it (from its last build), as rows by fan."""
    path = build_model(lake, KEY, as_of=as_of)
    with duckdb.connect() as con:
        return con.execute(f"SELECT * FROM read_parquet({quote(path)}) ORDER BY fan_id").fetchall()


def from_nothing(lake, as_of) -> list[tuple]:
    """The table built with no previous build to start from."""
    with lake.session(CREATOR, as_of=as_of) as con:
        con.execute(f"CREATE OR REPLACE VIEW previous.fan_chat AS {empty_select(KEY)}")
        return con.execute(f"SELECT * FROM ({sql_text(KEY)}) ORDER BY fan_id").fetchall()


CURRENT = "current"


def marked(source, target, *, built_by: str | None = CURRENT) -> None:
    """`source`'s rows with every reply time one microsecond longer, written to `target` as built
    by `built_by` (the current definition by default; None: no definition recorded): a fan read
    again loses the mark."""
    recorded = {CURRENT: definition(KEY), None: None}.get(built_by, built_by)
    options = f", KV_METADATA {{definition: '{recorded}'}}" if recorded else ""
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * REPLACE (reply_us + 1 AS reply_us) FROM "
                    f"read_parquet({quote(source)})) TO {quote(target)} (FORMAT parquet{options})")


def sync(lake, n: int, messages) -> None:
    write_sync(lake, fetched_at=day(n), messages=messages)
    stage(lake)


def test_a_build_from_the_last_one_equals_a_build_from_nothing(lake):
    builds = 0

    def same(as_of):
        nonlocal builds
        merged = incremental(lake, as_of)
        assert merged == from_nothing(lake, as_of), f"build {builds} at {as_of}"
        builds += 1
        return {row[1]: row for row in merged}

    sync(lake, 1, [*exchange(100, 1, day(1), [60, 30, 120]), *exchange(200, 2, day(1), [10])])
    first = same(day(1.5))
    assert first[1][-2:] == (2, 180_000_000)  # (replies, reply_us): 60 s and 120 s

    # New messages for fan 1, a first chat for fan 3; fan 2 untouched.
    sync(lake, 2, [*exchange(110, 1, day(2), [500, 7]), *exchange(300, 3, day(2), [90_000])])
    same(day(2.5))

    # A late creator message lands before fan 2's reply: his reply is now 5 s after it.
    sync(lake, 3, [said(199, 2, day(1) + timedelta(seconds=5), from_fan=False)])
    third = same(day(3.5))
    assert third[2][-2:] == (1, 5_000_000)

    # Fan 1's first message re-sighted at a later instant: his chat reorders.
    sync(lake, 4, [said(100, 1, day(1) + timedelta(seconds=61), from_fan=False)])
    same(day(4.5))

    # as_of back before day 2's messages, then forward again.
    same(day(1.5))
    same(day(3.5))
    # as_of before any message: no fan has a row.
    assert same(day(0)) == {}
    same(day(5))


def test_only_the_fans_whose_messages_changed_are_read_again(lake):
    sync(lake, 1, [*exchange(100, 1, day(1), [60]), *exchange(200, 2, day(1), [70])])
    path = build_model(lake, KEY, as_of=day(1.5))
    # Mark every fan's figures in the stored build: a fan read again loses the mark.
    marked(path, path.with_suffix(".marked"))
    path.with_suffix(".marked").replace(path)
    sync(lake, 2, exchange(110, 1, day(2), [30]))
    rows = {row[1]: row for row in incremental(lake, day(2.5))}
    assert rows[1][-1] == 90_000_000  # fan 1 read again: 60 s + 30 s
    assert rows[2][-1] == 70_000_001  # fan 2 kept from the last build


def test_another_creators_build_put_in_place_is_not_taken_for_this_ones(lake):
    """A careless copy: creator B's last build replaced by creator A's, of the very same messages
    (ids, instants, senders) but marked. Nothing of it is kept: B's fans are read again."""
    chats = [*exchange(100, 1, day(1), [60]), *exchange(200, 2, day(1), [70])]
    for creator in ("acct_a", CREATOR):
        write_sync(lake, fetched_at=day(1), messages=chats, creator_id=creator)
        stage(lake, creator)
    theirs = build_model(lake, KEY, as_of=day(1.5), creator_id="acct_a")
    ours = lake.staging_path("fan_chat", CREATOR, layer="intermediate")
    ours.parent.mkdir(parents=True, exist_ok=True)
    marked(theirs, ours)
    rows = incremental(lake, day(1.5))
    assert rows == from_nothing(lake, day(1.5))
    assert {(row[0], row[-1]) for row in rows} == {(CREATOR, 60_000_000), (CREATOR, 70_000_000)}


@pytest.mark.parametrize("built_by", ["0123456789abcdef", None], ids=["another", "unrecorded"])
def test_a_build_by_another_definition_is_not_started_from(lake, built_by):
    """The reply rule or a macro changed since the last build (or the build predates recording
    its definition): figures kept from it would follow the old rule, so every fan is read again."""
    sync(lake, 1, [*exchange(100, 1, day(1), [60]), *exchange(200, 2, day(1), [70])])
    path = build_model(lake, KEY, as_of=day(1.5))
    marked(path, path.with_suffix(".marked"), built_by=built_by)
    path.with_suffix(".marked").replace(path)
    rows = incremental(lake, day(1.5))
    assert {row[1]: row[-1] for row in rows} == {1: 60_000_000, 2: 70_000_000}
    # The build just written records the current definition: the next one starts from it.
    with duckdb.connect() as con:
        assert con.execute(f"SELECT decode(value) FROM parquet_kv_metadata({quote(path)}) "
                           "WHERE decode(key) = 'definition'").fetchall() == [(definition(KEY),)]


def test_two_messages_whose_sender_changes_alike_change_the_fingerprint(lake):
    """Two of fan 1's messages re-sighted as his rather than the creator's: each message's hash
    moves the same way, and the fingerprint still tells his chat changed."""
    chat = exchange(100, 1, day(1), [60, 30])  # the creator, fan 1, the creator
    sync(lake, 1, chat)
    incremental(lake, day(1.5))
    sync(lake, 2, [said(mid, 1, at, from_fan=True) for mid, at in
                   ((100, day(1)), (102, day(1) + timedelta(seconds=90)))])
    assert incremental(lake, day(2.5)) == from_nothing(lake, day(2.5))
