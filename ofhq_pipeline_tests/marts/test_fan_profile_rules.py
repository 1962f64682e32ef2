"""Every money & purchases and engagement rule of fan-profile.md at its edges, through the real
SQL models (built as the asset graph builds them, lifecycle included)."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest

from ofhq_pipeline_tests.builders import (
    CREATOR,
    chargeback,
    chat,
    day,
    fan,
    make_lake,
    message,
    period,
    profile,
    txn,
    write_sync,
)
from ofhq_pipeline_tests.lifecycle.harness import build


@pytest.fixture
def lake(tmp_path):
    return make_lake(tmp_path)


def run(lake, as_of, **sync):
    write_sync(lake, fetched_at=day(100), **sync)
    build(lake, as_of)
    return profile(lake)


def test_spend_count_and_average_round_half_up(lake):
    p = run(lake, day(50), fans=[fan(1), fan(2)], transactions=[
        txn("t1", 1, 10.00, day(1)), txn("t2", 1, 10.01, day(2), kind="tip"),
        txn("t3", 2, 10.00, day(1)), txn("t4", 2, 10.01, day(2)),
    ])
    assert p[1]["lifetime_spend_cents"] == 2001
    assert p[1]["purchase_count"] == 2
    assert p[1]["avg_order_value_cents"] == 1001  # 1000.5 rounds half up
    assert p[1]["lifetime_net_cents"] == 800 + 801
    assert p[1]["tips_cents"] == 1001 and p[1]["ppv_cents"] == 1000
    assert p[1]["biggest_purchase_cents"] == 1001


def test_spend_by_type_puts_each_purchase_in_its_own_column(lake):
    p = run(lake, day(50), fans=[fan(1)], transactions=[
        txn("t1", 1, 1.01, day(1), kind="tip"), txn("t2", 1, 2.02, day(2), kind="message"),
        txn("t3", 1, 4.04, day(3), kind="subscription"), txn("t4", 1, 8.08, day(4), kind="post"),
        txn("t5", 1, 16.16, day(5), kind="stream"), txn("t6", 1, 32.32, day(6), kind="other"),
        txn("t7", 1, 64.64, day(7), kind="post", status="refunded"),
    ])
    by_type = {k: p[1][k] for k in ("tips_cents", "ppv_cents", "subscription_cents", "post_cents",
                                    "stream_cents")}
    assert by_type == {"tips_cents": 101, "ppv_cents": 202, "subscription_cents": 404,
                       "post_cents": 808, "stream_cents": 1616}
    # `other` is spend of no listed type: in the total, in none of the columns; a refund in none.
    assert p[1]["lifetime_spend_cents"] == 101 + 202 + 404 + 808 + 1616 + 3232


def test_cents_round_half_up_from_dollars(lake):
    p = run(lake, day(50), fans=[fan(1)], transactions=[txn("t1", 1, 9.995, day(1)),
                                                        txn("t2", 1, 0.285, day(2))])
    assert p[1]["lifetime_spend_cents"] == 1000 + 29


def test_fan_without_purchases_has_zeros_and_nulls(lake):
    p = run(lake, day(50), fans=[fan(1)], transactions=[
        txn("t1", 1, 0.0, day(1)),  # amount 0 is not a purchase
        txn("t2", 1, 20.0, day(2), status="pending"),
    ])
    row = p[1]
    assert row["lifetime_spend_cents"] == 0 and row["purchase_count"] == 0
    assert row["avg_order_value_cents"] is None and row["biggest_purchase_cents"] is None
    assert row["first_purchase_at"] is None and row["last_purchase_type"] is None
    assert row["price_range"] is None
    assert row["buyer_type"] == "non_spender"
    assert row["conversion_rate"] is None


def test_purchases_after_as_of_are_ignored(lake):
    p = run(lake, day(10), fans=[fan(1)], transactions=[
        txn("t1", 1, 10.0, day(5)), txn("t2", 1, 500.0, day(10.0001)),
    ])
    assert p[1]["lifetime_spend_cents"] == 1000
    assert p[1]["last_purchase_at"] == day(5)


def test_purchase_exactly_at_as_of_counts(lake):
    p = run(lake, day(10), fans=[fan(1)], transactions=[txn("t1", 1, 10.0, day(10))])
    assert p[1]["purchase_count"] == 1


def test_last_purchase_ties_on_time_go_to_greatest_id(lake):
    p = run(lake, day(50), fans=[fan(1)], transactions=[
        txn("tr_a", 1, 5.0, day(3), kind="tip"), txn("tr_b", 1, 7.0, day(3), kind="post"),
        txn("tr_0", 1, 9.0, day(1)),
    ])
    assert p[1]["last_purchase_type"] == "post"
    assert p[1]["last_purchase_cents"] == 700
    assert p[1]["first_purchase_at"] == day(1)


def test_refunds_and_chargeback_risk(lake):
    p = run(lake, day(50), fans=[fan(1), fan(2)], transactions=[
        txn("t1", 1, 10.0, day(1), status="refunded"), txn("t2", 1, 10.0, day(2), status="refund"),
        txn("t3", 1, 10.0, day(3)),
        txn("t4", 2, 10.0, day(1), status="refunded"),
    ])
    assert p[1]["refund_count"] == 2 and p[1]["chargeback_risk"] is True
    assert p[1]["lifetime_spend_cents"] == 1000
    assert p[2]["refund_count"] == 1 and p[2]["chargeback_risk"] is False


@pytest.mark.parametrize(("as_of_day", "purchases", "chargebacks"), [(5, 1, 0), (20, 0, 1)])
def test_chargeback_after_the_purchase_applies_from_its_own_time(lake, as_of_day, purchases, chargebacks):
    payment = txn("t1", 1, 50.0, day(1))
    p = run(lake, day(as_of_day), fans=[fan(1)], transactions=[payment],  # the feed still says done
            chargebacks=[chargeback("cb1", payment, day(10))])
    assert p[1]["purchase_count"] == purchases
    assert p[1]["chargeback_count"] == chargebacks
    assert p[1]["chargeback_risk"] is (chargebacks == 1)


def test_latest_sighting_wins(lake):
    write_sync(lake, fetched_at=day(20), fans=[fan(1)], transactions=[txn("t1", 1, 10.0, day(1))])
    write_sync(lake, fetched_at=day(21), fans=[fan(1)],
               transactions=[txn("t1", 1, 10.0, day(1), status="refunded")])
    build(lake, day(30))
    p = profile(lake)
    assert p[1]["purchase_count"] == 0 and p[1]["refund_count"] == 1


@pytest.mark.parametrize(
    ("amounts", "expected"),
    [
        ([9.99], "low"), ([10.00], "mid"), ([49.99], "mid"), ([50.00], "high"),
        ([199.99], "high"), ([200.00], "whale"),
        ([9.0] * 111 + [1.0], "whale"),  # $1,000 lifetime with a low average
        ([9.0] * 111, "low"),  # $999
    ],
)
def test_price_range_thresholds(lake, amounts, expected):
    txs = [txn(f"t{i}", 1, a, day(1 + i / 1000)) for i, a in enumerate(amounts)]
    p = run(lake, day(50), fans=[fan(1)], transactions=txs)
    assert p[1]["price_range"] == expected


@pytest.mark.parametrize(
    ("purchases", "expected"),
    [
        ([("subscription", 9.99, False)], "subscriber_only"),
        ([("subscription", 9.99, False), ("message", 10, True), ("tip", 10, False)], "custom_buyer"),
        ([("message", 10, True), ("tip", 10.01, False)], "tipper"),
        ([("message", 10, False), ("tip", 10, False)], "ppv_buyer"),  # tie: message first
        ([("tip", 10, False), ("post", 10, False)], "tipper"),
        ([("post", 10, False), ("stream", 10, False)], "post_buyer"),
        ([("stream", 10, False), ("other", 10, False)], "stream_buyer"),
        ([("other", 10, False), ("subscription", 50, False)], "other_buyer"),
        ([("subscription", 50, True), ("tip", 10, False)], "tipper"),  # a custom subscription is no custom spend
    ],
)
def test_buyer_type(lake, purchases, expected):
    txs = [txn(f"t{i}", 1, a, day(1 + i), kind=k, custom=c) for i, (k, a, c) in enumerate(purchases)]
    p = run(lake, day(50), fans=[fan(1)], transactions=txs)
    assert p[1]["buyer_type"] == expected


def test_custom_buyer_at_exactly_half_of_non_subscription_spend(lake):
    txs = [txn("t1", 1, 10, day(1), custom=True), txn("t2", 1, 10, day(2), kind="tip")]
    assert run(lake, day(50), fans=[fan(1)], transactions=txs)[1]["buyer_type"] == "custom_buyer"


def test_ppv_sent_bought_and_conversion(lake):
    def sent(mid, fan_id, at, price=10, queue_id=None):
        return (fan_id, message(mid, fan_id, at, from_fan=False, price=price, queue_id=queue_id))

    msgs = [
        sent(1, 1, day(1)), sent(2, 1, day(2)),
        sent(3, 1, day(2), queue_id=55),  # a mass send reached his chat: offered to him too
        sent(4, 1, day(2), price=0),  # free
        (1, message(5, 1, day(3), from_fan=True, price=0)),
        sent(6, 1, day(60)),  # after as-of
        sent(7, 2, day(1)),
        sent(8, 4, day(1)),
        sent(9, 5, day(1), queue_id=56),  # his only PPV came by mass message
        sent(10, 6, day(1)), sent(11, 6, day(2)), sent(12, 6, day(3), queue_id=57),
        sent(13, 6, day(4), queue_id=58),
    ]
    p = run(lake, day(50), fans=[fan(i) for i in range(1, 7)], messages=msgs,
            chats=[chat(1, msgs[5][1]), chat(2, msgs[6][1])], transactions=[
                txn("t1", 1, 10, day(1)), txn("t2", 1, 10, day(2)), txn("t3", 1, 10, day(3)),
                txn("t4a", 4, 10, day(1)), txn("t4b", 4, 10, day(2)),
                txn("t5", 5, 10, day(1)), txn("t6", 6, 10, day(5)),
            ])
    counts = {f: (p[f]["ppv_sent_count"], p[f]["ppv_bought_count"], p[f]["conversion_rate"])
              for f in range(1, 7)}
    assert counts == {
        1: (3, 3, 1.0),
        2: (1, 0, 0.0),
        3: (0, 0, None),  # nothing sent
        4: (1, 2, 1.0),  # more bought than sent: capped at 1
        5: (1, 1, 1.0),
        6: (4, 1, 0.25),
    }


@pytest.mark.parametrize(
    ("periods", "expected"),
    [
        ([], None),
        ([period(day(0), 0.0)], None),  # a free trial is not a paid period
        ([period(day(0), 9.99), period(day(30), 9.99, action="renew")], "never"),
        ([period(day(0), 4.99, discount=50), period(day(30), 7.99)], "always"),  # price < regular
        ([period(day(0), 4.99, discount=50), period(day(30), 9.99)], "sometimes"),
        ([period(day(0), 9.99), period(day(80), 4.99, discount=50)], "never"),  # after as-of
    ],
)
def test_discount_sensitivity(lake, periods, expected):
    p = run(lake, day(50), fans=[fan(1, subscribes=periods)])
    assert p[1]["discount_sensitivity"] == expected


def test_subscription_fields_come_from_the_latest_fan_record(lake):
    write_sync(lake, fetched_at=day(20), fans=[fan(1, status="active", subscribe_at=day(0))])
    write_sync(lake, fetched_at=day(40), fans=[fan(1, status="expired", subscribe_at=day(0),
                                                  expired_at=day(30))])
    build(lake, day(45))
    row = profile(lake)[1]
    assert row["subscription_status"] == "expired"
    assert row["subscribed_at"] == day(0)
    assert row["subscription_expires_at"] == day(30)


def test_fans_known_only_from_transactions_or_chats_are_profiled(lake):
    m = message(1, 8, day(1), from_fan=True)
    p = run(lake, day(50), fans=[fan(1)], transactions=[txn("t1", 7, 10, day(1))],
            messages=[(8, m)], chats=[chat(8, m)])
    assert set(p) == {1, 7, 8}
    assert p[7]["lifetime_spend_cents"] == 1000 and p[7]["subscription_status"] is None


# ---- Engagement signals (fan-profile.md), as of T; "within N days" includes N days exactly ----
T = day(50)
SECOND = timedelta(seconds=1)


def fan_says(fan_id: int, at, first_id: int, n: int = 1, *, from_fan: bool = True):
    """n messages of the fan (or of the creator to him), a minute apart, the last one at `at`."""
    return [(fan_id, message(first_id + i, fan_id, at - timedelta(minutes=n - 1 - i),
                             from_fan=from_fan)) for i in range(n)]


@pytest.mark.parametrize(
    ("ago", "expected"),
    [(timedelta(days=2), "HOT"), (timedelta(days=2) + SECOND, "WARM"),
     (timedelta(days=7), "WARM"), (timedelta(days=7) + SECOND, "COOLING"),
     (timedelta(days=14), "COOLING"), (timedelta(days=14) + SECOND, "COLD"),
     (timedelta(days=30), "COLD"), (timedelta(days=30) + SECOND, "ICE_COLD")],
)
def test_temperature_thresholds(lake, ago, expected):
    # Fan 1 was last active by message, fan 2 by purchase, fan 3 never.
    p = run(lake, T, fans=[fan(1), fan(2), fan(3)], messages=fan_says(1, T - ago, 1),
            transactions=[txn("t1", 2, 5, T - ago)])
    assert p[1]["temperature"] == p[2]["temperature"] == expected
    assert p[1]["last_activity_at"] == p[1]["last_fan_message_at"] == T - ago
    assert p[2]["last_activity_at"] == T - ago
    assert p[3]["temperature"] == "ICE_COLD" and p[3]["last_activity_at"] is None


def test_last_activity_is_the_later_of_purchase_and_fan_message_and_ignores_after_t(lake):
    msgs = [*fan_says(1, day(40), 1), *fan_says(1, day(45), 10, from_fan=False),
            *fan_says(1, T + SECOND, 20)]
    p = run(lake, T, fans=[fan(1)], messages=msgs, transactions=[txn("t1", 1, 5, day(42))])
    row = p[1]
    assert row["last_fan_message_at"] == day(40) and row["last_message_at"] == day(45)
    assert row["last_activity_at"] == day(42)
    assert row["fan_message_count"] == 1


@pytest.mark.parametrize(
    ("dollars", "tier"),
    [(None, "none"), (0.01, "bronze"), (49.99, "bronze"), (50.00, "silver"), (199.99, "silver"),
     (200.00, "gold"), (999.99, "gold"), (1000.00, "platinum")],
)
def test_spend_tiers(lake, dollars, tier):
    txs = [] if dollars is None else [txn("t1", 1, dollars, day(1))]
    assert run(lake, T, fans=[fan(1)], transactions=txs)[1]["spend_tier"] == tier


def test_time_waster_score_and_deprioritize(lake):
    start = T - timedelta(days=30)
    msgs = [
        *fan_says(1, T, 1000, 20),    # m=20, s=0: 50
        *fan_says(2, T, 2000, 46),    # m=46, s=0: 69.7 → 70, never paid: deprioritized
        *fan_says(3, T, 3000, 45),    # m=45: 69.2 → 69
        *fan_says(4, T, 4000, 46),    # 70, but paid once long ago: not deprioritized
        *fan_says(5, T, 5000, 20),    # m=20, s=$20: 25
        *fan_says(6, T, 6000, 20),    # m=20, s=$60: 12.5 → 13 (half up)
        *fan_says(7, start, 7000),    # exactly 30 days before T: counts
        *fan_says(7, start - SECOND, 7100),  # just before: does not
        *fan_says(7, T + SECOND, 7200),      # after T: ignored
        *fan_says(8, T, 8000, 30, from_fan=False),  # the creator's messages are not the fan's
    ]
    p = run(lake, T, fans=[fan(i) for i in range(1, 10)], messages=msgs, transactions=[
        txn("t4", 4, 5, day(1)), txn("t5", 5, 20, start), txn("t6", 6, 60, T),
        txn("t6_old", 6, 500, start - SECOND),  # outside the 30 days
    ])
    scores = {f: p[f]["time_waster_score"] for f in range(1, 10)}
    assert scores == {1: 50, 2: 70, 3: 69, 4: 70, 5: 25, 6: 13, 7: 5, 8: 0, 9: 0}
    assert p[2]["deprioritized_until"] == T + timedelta(days=7)
    assert [f for f in p if p[f]["deprioritized_until"] is not None] == [2]
    assert p[7]["fan_message_count"] == 2


def test_active_hours(lake):
    at = day(40).replace(hour=0)
    msgs = [*(fan_says(1, at + timedelta(hours=3, minutes=10), 100, 5)),
            *(fan_says(1, at + timedelta(hours=22, minutes=10), 200, 3)),
            *(fan_says(1, at + timedelta(hours=1, minutes=10), 300, 3)),
            *(fan_says(1, at + timedelta(hours=7, minutes=10), 400, 1)),
            *(fan_says(1, at + timedelta(hours=9, minutes=10), 500, 9, from_fan=False)),
            *(fan_says(1, T + timedelta(hours=9), 600, 9)),  # after T
            *(fan_says(2, at + timedelta(hours=23, minutes=30), 700))]
    p = run(lake, T, fans=[fan(1), fan(2), fan(3)], messages=msgs)
    assert p[1]["active_hours"] == [3, 1, 22]  # by count, then the earlier hour
    assert p[2]["active_hours"] == [23]
    assert p[3]["active_hours"] == []


def test_avg_reply_time(lake):
    def m(mid, fan_id, at, from_fan):
        return (fan_id, message(mid, fan_id, at, from_fan=from_fan))

    t0, hour = day(30), timedelta(hours=1)
    msgs = [
        # Fan 1: replies after 100 s and 301 s (from the creator's latest message): 200.5 → 201.
        m(1, 1, t0, False), m(2, 1, t0 + timedelta(seconds=100), True),
        m(3, 1, t0 + timedelta(seconds=200), True),  # follows the fan's own message: no reply
        m(4, 1, t0 + hour, False), m(5, 1, t0 + hour + timedelta(seconds=50), False),
        m(6, 1, t0 + hour + timedelta(seconds=351), True),
        # Fan 2: a reply after exactly 24 h counts, one after 24 h 1 s does not.
        m(10, 2, t0, False), m(11, 2, t0 + timedelta(hours=24), True),
        m(12, 2, day(33), False), m(13, 2, day(34) + SECOND, True),
        m(14, 2, day(49), False), m(15, 2, T + SECOND, True),  # after T
        # Fan 3: only his own messages.
        m(20, 3, t0, True), m(21, 3, t0 + hour, True),
    ]
    p = run(lake, T, fans=[fan(1), fan(2), fan(3)], messages=msgs)
    assert p[1]["avg_reply_time_s"] == 201
    assert p[2]["avg_reply_time_s"] == 86400
    assert p[3]["avg_reply_time_s"] is None


def test_follow_up_due(lake):
    p = run(lake, T, fans=[fan(i, subscribe_at=day(0)) for i in range(1, 10)], messages=[
        *fan_says(3, day(40), 1),   # warming: fan message 10 days ago...
        *fan_says(3, day(41), 5, from_fan=False),  # ...and the creator answered a day later
        *fan_says(5, day(45), 10),  # active buyer who also chats
        *fan_says(7, day(25), 20), *fan_says(7, day(35), 25, from_fan=False),
        *fan_says(8, day(2), 30),   # wrote before his last purchase
        *fan_says(9, day(45), 40),  # warming, only the fan wrote
    ], transactions=[
        txn("t1", 1, 10, day(30)),  # cooling_off (20 days), no message
        txn("t2", 2, 10, day(5)),   # at_risk (45 days), no message
        txn("t5", 5, 10, day(45)),  # active_buyer
        txn("t6", 6, 10, day(-20)),  # churned (70 days)
        txn("t7", 7, 10, day(30)),  # cooling_off
        txn("t8", 8, 10, day(5)),   # at_risk
    ])
    assert [p[i]["stage"] for i in range(1, 10)] == [
        "cooling_off", "at_risk", "warming", "at_risk", "active_buyer", "churned",
        "cooling_off", "at_risk", "warming"]
    # cooling_off / at_risk: 3 days after the latest message of either side, or after the last
    # purchase when nobody wrote; warming: 2 days after the latest message. Overdue is fine.
    assert p[1]["follow_up_due_at"] == day(33)
    assert p[2]["follow_up_due_at"] == day(8)
    assert p[3]["follow_up_due_at"] == day(43)
    assert p[7]["follow_up_due_at"] == day(38)
    assert p[8]["follow_up_due_at"] == day(5)
    assert p[9]["follow_up_due_at"] == day(47)
    # at_risk with no message and no purchase (fan 4), active_buyer, churned: no follow-up.
    assert [p[i]["follow_up_due_at"] for i in (4, 5, 6)] == [None, None, None]


def write_classifications(lake, rows: dict[int, dict]) -> None:
    """The classifier's per-fan mart in the run's folder, where the classifier writes it (only
    some of its columns: the others read as null)."""
    path = lake.mart_path("fan_personality", CREATOR, "run1")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        values = ", ".join(
            f"('{CREATOR}', {fan_id}, {r.get('wants_custom', 'NULL')}, "
            f"{r.get('ready_to_buy', 'NULL')}, {r.get('high_intent', 'NULL')}, "
            f"{r.get('discount_request', 'NULL')}, 'price', 'too expensive', "
            f"TIMESTAMPTZ '2026-11-01 00:00:00+00', 'rules-v1')"
            for fan_id, r in rows.items())
        con.execute(
            f"COPY (SELECT * FROM (VALUES {values}) AS t(creator_id, fan_id, "
            "intent_wants_custom, intent_ready_to_buy, intent_high_intent, "
            "intent_discount_request, last_objection, top_objection, classified_at, "
            f"classifier_model)) TO '{path}' (FORMAT parquet)")
    finally:
        con.close()


def test_next_best_action_rules_in_order(lake):
    write_classifications(lake, {
        1: {"wants_custom": 90},                       # but deprioritized
        2: {"wants_custom": 60, "ready_to_buy": 90},  # upsell_custom first
        3: {"wants_custom": 59, "ready_to_buy": 60},
        4: {"high_intent": 60, "ready_to_buy": 59},
        5: {"discount_request": 60},                   # cooling_off
        6: {"discount_request": 60},                   # active_buyer: no discount
        7: {"discount_request": 59},                   # at_risk, always discounted
        8: {"discount_request": 10},                   # at_risk with spend
        # Quiet chats: an intent holds only while the fan wrote within the 14 days before T.
        13: {"wants_custom": 90},                      # wrote 14 days and 1 s ago
        14: {"ready_to_buy": 95, "high_intent": 95},   # never wrote
        15: {"discount_request": 80},                  # cooling_off, wrote 30 days ago
        16: {"discount_request": 80},                  # at_risk, always discounted, quiet
    })
    discounted = [period(day(-60), 4.99, discount=50), period(day(-30), 4.99, discount=50)]
    plain = [i for i in range(1, 17) if i not in (7, 11, 16)]
    p = run(lake, T, fans=[fan(i, subscribe_at=day(-60)) for i in plain]
            + [fan(i, subscribe_at=day(-60), subscribes=discounted) for i in (7, 16)]
            + [fan(11, subscribe_at=day(47))],
            messages=[*fan_says(1, T, 100, 46), *fan_says(12, day(45), 200),
                      *fan_says(2, T - timedelta(days=14), 300),  # exactly 14 days: fresh
                      *fan_says(3, day(45), 310), *fan_says(4, day(49), 320),
                      *fan_says(5, day(40), 330),
                      *fan_says(13, T - timedelta(days=14) - SECOND, 400),
                      *fan_says(15, day(20), 410), *fan_says(16, day(20), 420)],
            transactions=[txn("t5", 5, 10, day(30)), txn("t6", 6, 10, day(48)),
                          txn("t7", 7, 10, day(10)), txn("t8", 8, 10, day(10)),
                          txn("t9", 9, 10, day(-20)), txn("t14", 14, 10, day(10)),
                          txn("t15", 15, 10, day(30)), txn("t16", 16, 10, day(10))])
    actions = {f: (p[f]["stage"], p[f]["next_best_action"]) for f in range(1, 17)}
    assert actions == {
        1: ("warming", "deprioritize"), 2: ("warming", "upsell_custom"),
        3: ("warming", "send_ppv"), 4: ("warming", "send_ppv"),
        5: ("cooling_off", "offer_discount"), 6: ("active_buyer", "nurture"),
        7: ("at_risk", "offer_discount"), 8: ("at_risk", "win_back"),
        9: ("churned", "win_back"), 10: ("churned", "nurture"),
        11: ("new", "welcome"), 12: ("warming", "nurture"),
        13: ("cooling_off", "nurture"), 14: ("at_risk", "win_back"),
        15: ("cooling_off", "nurture"), 16: ("at_risk", "offer_discount"),
    }
    assert p[2]["next_best_action_reason"] == (
        "upsell_custom: intent_wants_custom 60 >= 60 (fan wrote 14.0 days ago, <= 14)")
    assert p[3]["next_best_action_reason"] == (
        "send_ppv: intent_ready_to_buy 60 >= 60 (fan wrote 5.0 days ago, <= 14)")
    assert p[4]["next_best_action_reason"] == (
        "send_ppv: intent_high_intent 60 >= 60 (fan wrote 1.0 days ago, <= 14)")
    assert p[5]["next_best_action_reason"] == (
        "offer_discount: intent_discount_request 60 >= 60 (fan wrote 10.0 days ago, <= 14) "
        "in stage cooling_off")
    assert p[7]["next_best_action_reason"] == (
        "offer_discount: discount_sensitivity always in stage at_risk")
    # A stale discount request does not fire; the sensitivity does, and the reason says so.
    assert p[16]["next_best_action_reason"] == (
        "offer_discount: discount_sensitivity always in stage at_risk")
    assert p[9]["next_best_action_reason"] == "win_back: stage churned with lifetime spend $10.00"
    assert p[14]["next_best_action_reason"] == "win_back: stage at_risk with lifetime spend $10.00"
    assert p[13]["next_best_action_reason"] == "nurture: no other rule applies (stage cooling_off)"
    assert p[1]["next_best_action_reason"].startswith("deprioritize: time_waster_score 70 ")
    # The classifier's columns travel into the profile; those it did not write are null.
    assert (p[2]["intent_wants_custom"], p[2]["last_objection"], p[2]["top_objection"],
            p[2]["classifier_model"]) == (60, "price", "too expensive", "rules-v1")
    assert p[2]["fan_type"] is None and p[12]["intent_wants_custom"] is None
