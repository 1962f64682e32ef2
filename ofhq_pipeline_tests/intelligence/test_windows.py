"""The three windows at their edges: purchase context, dedupe, cut, budget, hash."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from ofhq_pipeline.intelligence.windows import (
    WindowConfig,
    build_windows,
    read_inputs,
    window_hash,
)
from ofhq_pipeline_tests.builders import CREATOR, T0
from ofhq_pipeline_tests.intelligence.conftest import AS_OF, at


def chat(fan_id: int, n: int, *, text=lambda i: f"message {i}", first_id: int = 1,
         minutes=lambda i: i, from_fan=lambda i: i % 2 == 0) -> pl.DataFrame:
    return pl.DataFrame({
        "fan_id": [fan_id] * n,
        "message_id": [first_id + i for i in range(n)],
        "is_from_fan": [from_fan(i) for i in range(n)],
        "created_at": [at(minutes(i)) for i in range(n)],
        "text": [text(i) for i in range(n)],
        "price_cents": [0] * n,
    })


def purchases(*rows: tuple[int, float, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"fan_id": [r[0] for r in rows], "purchase_at": [at(r[1]) for r in rows],
         "type": [r[2] for r in rows]},
        schema={"fan_id": pl.Int64, "purchase_at": pl.Datetime("us", "UTC"), "type": pl.String},
    )


def positions(windows, fan_id: int = 1, first_id: int = 1) -> list[int]:
    ids = windows.rows.filter(pl.col("fan_id") == fan_id)["message_id"].to_list()
    return [i - first_id for i in ids]


def test_first_100_purchase_context_and_last_400():
    w = build_windows(chat(1, 1000), purchases((1, 550.5, "message")))
    kept = positions(w)
    expected = list(range(100)) + list(range(546, 556)) + list(range(600, 1000))
    assert kept == expected  # chronological, 5 at or before the purchase and 5 after
    assert w.rows.filter(pl.col("in_context"))["message_id"].to_list() == [
        p + 1 for p in range(546, 556)]
    assert w.rows["local_id"].to_list() == list(range(1, len(expected) + 1))


def test_only_message_and_tip_purchases_have_context():
    for kind, has_context in [("tip", True), ("message", True), ("post", False),
                              ("subscription", False), ("stream", False)]:
        w = build_windows(chat(1, 1000), purchases((1, 300.5, kind)))
        assert (296 in positions(w)) is has_context, kind


def test_purchase_at_the_edges_of_the_chat():
    before_all = build_windows(chat(1, 700), purchases((1, -10, "tip")))
    assert positions(before_all) == list(range(100)) + list(range(300, 700))  # inside first 100
    after_all = build_windows(chat(1, 700), purchases((1, 10_000, "tip")))
    assert positions(after_all) == list(range(100)) + list(range(300, 700))
    # a purchase just before message 200: 195..199 before it, 200..204 after it
    middle = build_windows(chat(1, 700), purchases((1, 199.5, "tip")))
    assert positions(middle) == list(range(100)) + list(range(195, 205)) + list(range(300, 700))


def test_messages_sharing_a_timestamp_are_ordered_by_id_and_context_counts_them_all():
    frame = chat(1, 1000, minutes=lambda i: i // 4)  # four messages a minute
    w = build_windows(frame.sample(fraction=1.0, shuffle=True, seed=3),
                      purchases((1, 60, "tip")))  # at the minute of messages 240..243
    kept = positions(w)
    assert kept == sorted(kept)
    assert list(range(239, 249)) == [p for p in kept if 200 <= p < 260]


def test_union_is_deduplicated():
    frame = chat(1, 60)
    w = build_windows(pl.concat([frame, frame.head(10)]),
                      purchases((1, 5.5, "tip"), (1, 6.5, "message")))
    assert positions(w) == list(range(60))


def test_texts_are_stripped_redacted_and_cut():
    frame = chat(1, 3, text=lambda i: ["<p>hi &amp; <b>bye</b></p>", "x" * 900,
                                       "mail me: a@b.com"][i])
    texts = build_windows(frame, purchases()).rows["text"].to_list()
    assert texts == ["hi & bye", "x" * 500, "mail me: [email]"]


def test_budget_keeps_purchase_context_whole_then_recent_then_earliest():
    long = lambda i: f"{i:04d} " + "y" * 395  # noqa: E731  (100 tokens + 2 per message)
    frame = chat(1, 1000, text=long)
    cfg = WindowConfig(token_budget=3_000)
    w = build_windows(frame, purchases((1, 550.5, "tip")), cfg)
    kept = positions(w)
    context = list(range(546, 556))
    assert set(context) <= set(kept)
    recent = [p for p in kept if p not in context]
    assert recent == list(range(1000 - len(recent), 1000))  # the newest, none of the earliest
    assert w.rows["tokens"].sum() <= 3_000 and len(recent) == (3_000 - 10 * 102) // 102
    # a budget beyond the last 400 reaches into the earliest, oldest first
    roomy = build_windows(frame, purchases((1, 550.5, "tip")), WindowConfig(token_budget=45_000))
    early = [p for p in positions(roomy) if p < 100]
    assert early == list(range(len(early))) and 0 < len(early) < 100


def test_budget_keeps_the_newest_purchase_contexts_whole_or_not_at_all():
    frame = chat(1, 1000, text=lambda i: "z" * 400)
    buys = purchases((1, 300.5, "tip"), (1, 500.5, "message"))
    w = build_windows(frame, buys, WindowConfig(token_budget=1_500))  # room for one context
    kept = positions(w)
    assert set(range(496, 506)) <= set(kept)
    assert not set(range(296, 306)) & set(kept)  # the older context is not cut in part
    tiny = build_windows(frame, buys, WindowConfig(token_budget=500))  # no context fits
    assert positions(tiny) == list(range(996, 1000))


def test_hash_is_stable_and_follows_content():
    frame = chat(1, 1000)
    base = build_windows(frame, purchases()).fans["window_hash"][0]
    shuffled = build_windows(frame.sample(fraction=1.0, shuffle=True, seed=1), purchases())
    assert shuffled.fans["window_hash"][0] == base
    outside = frame.with_columns(  # message 300 is in no window
        text=pl.when(pl.col("message_id") == 301).then(pl.lit("edited")).otherwise("text"))
    assert build_windows(outside, purchases()).fans["window_hash"][0] == base
    edited = frame.with_columns(
        text=pl.when(pl.col("message_id") == 900).then(pl.lit("edited")).otherwise("text"))
    assert build_windows(edited, purchases()).fans["window_hash"][0] != base
    longer = pl.concat([frame, chat(1, 1, first_id=5000, minutes=lambda i: 2000)])
    assert build_windows(longer, purchases()).fans["window_hash"][0] != base
    rows = build_windows(frame, purchases()).rows
    assert window_hash(rows["message_id"].to_list(), rows["text"].to_list()) == base


def test_fans_are_windowed_independently_and_transcript_is_compact():
    frame = pl.concat([
        chat(1, 3, minutes=lambda i: i * 60 * 24),
        chat(2, 2, first_id=50).with_columns(price_cents=pl.Series([0, 1999])),
    ])
    w = build_windows(frame, purchases((2, 0.5, "tip")))
    [one, two] = w.get([1, 2])
    day = T0.date()
    assert one.transcript == (
        f"[{day}]\n1 F: message 0\n[{day + timedelta(days=1)}]\n2 C: message 1\n"
        f"[{day + timedelta(days=2)}]\n3 F: message 2"
    )
    assert two.transcript == f"[{day}]\n1 F: message 0\n2 C $19.99: message 1"
    assert one.message_ids == (1, 2, 3) and two.message_ids == (50, 51)
    assert one.message_id(3) == 3 and one.message_id(4) is None and one.message_id(0) is None
    assert (one.fan_message_count, two.fan_message_count) == (2, 1)


def test_inputs_come_from_staging_and_the_transactions_mart_as_of(chats, lake):
    late_minutes = 60 * 24 * 61  # a day after as_of
    chats.say(1, "hello", "how much?", start=0)
    chats.say(1, "from the future", start=late_minutes)  # after as_of
    chats.buy(1, 0.5, kind="tip")
    chats.buy(1, late_minutes, kind="tip")
    chats.write()
    messages, bought = read_inputs(lake, CREATOR, as_of=AS_OF)
    assert sorted(messages["text"].to_list()) == ["hello", "how much?"]
    assert bought["purchase_at"].to_list() == [at(0.5)]
